//! The diagram benchmark: how long each of the demo's diagrams takes to draw (the same
//! renderers and caps `bake build` uses, in this release build), and how long the largest
//! inputs the size caps let through take, which bounds what one diagram can cost a build.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bake::diagrams::{Attributes, Kind, MAX_ASCII_DRAWN, render_raw};

/// One diagram source found in content/.
struct Source {
    place: String,
    kind: Kind,
    text: String,
}

/// Fenced diagrams in markdown and diagram files, in path order.
fn sources(dir: &Path, root: &Path, out: &mut Vec<Source>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if path.is_dir() {
            sources(&path, root, out)?;
            continue;
        }
        let ext = path
            .extension()
            .map(|x| x.to_string_lossy().to_string())
            .unwrap_or_default();
        if ext == "md" {
            let text = std::fs::read_to_string(&path)?;
            let mut fence: Option<(usize, Kind, String)> = None;
            for (i, line) in text.lines().enumerate() {
                match &mut fence {
                    Some((start, kind, body)) => {
                        if line.trim_start().starts_with("```") {
                            out.push(Source {
                                place: format!("{rel}:{}", *start),
                                kind: *kind,
                                text: std::mem::take(body),
                            });
                            fence = None;
                        } else {
                            body.push_str(line);
                            body.push('\n');
                        }
                    }
                    None => {
                        if let Some(info) = line.trim_start().strip_prefix("```") {
                            let lang = info.split_whitespace().next().unwrap_or("");
                            if let Some(kind) = Kind::from_fence(lang) {
                                fence = Some((i + 1, kind, String::new()));
                            }
                        }
                    }
                }
            }
        } else if let Some(kind) = Kind::from_extension(&ext) {
            let text = std::fs::read_to_string(&path)?;
            let (_, body) = bake::frontmatter::parse_as::<Attributes>(&path, &text, "")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push(Source {
                place: rel,
                kind,
                text: body.to_string(),
            });
        }
    }
    Ok(())
}

/// Median of `runs` renders, after one warm-up.
fn time(kind: Kind, text: &str, runs: usize) -> Result<Duration> {
    render_raw(kind, text).map_err(anyhow::Error::msg)?;
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let _ = render_raw(kind, text);
            t.elapsed()
        })
        .collect();
    v.sort();
    Ok(v[v.len() / 2])
}

/// A deterministic pseudo-random stream (SplitMix64).
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The largest inputs each cap lets through, of a shape that is slow to lay out.
fn worst_cases() -> Vec<(String, Kind, String)> {
    let mut seed = 2026;
    let mut v = Vec::new();
    // DOT: a random graph with labelled edges, as many nodes as fit in the cap.
    let mut dot = String::from("digraph {\n");
    let mut n = 0;
    loop {
        let line = format!(
            "  n{n} -> n{} [label=\"e{n}\"];\n",
            next(&mut seed) % (n as u64 + 1)
        );
        if dot.len() + line.len() + 2 > Kind::Dot.max_source_bytes() {
            break;
        }
        dot.push_str(&line);
        n += 1;
    }
    dot.push_str("}\n");
    v.push((
        format!("DOT, {n} labelled edges ({} bytes)", dot.len()),
        Kind::Dot,
        dot,
    ));
    // Mermaid: a random flowchart.
    let mut mmd = String::from("flowchart TD\n");
    let mut n = 0;
    loop {
        let to = next(&mut seed) % (n as u64 + 1);
        let line = format!("  n{n}[Step {n}] --> n{to}[Step {to}]\n");
        if mmd.len() + line.len() > Kind::Mermaid.max_source_bytes() {
            break;
        }
        mmd.push_str(&line);
        n += 1;
    }
    v.push((
        format!("Mermaid flowchart, {n} edges ({} bytes)", mmd.len()),
        Kind::Mermaid,
        mmd,
    ));
    // ASCII art: a dense block of drawing characters at the drawn-character cap.
    let chars = b"+-|/\\.'*o<>v^_()";
    let (w, h) = (80, MAX_ASCII_DRAWN / 80);
    let mut bob = String::new();
    for _ in 0..h {
        for _ in 0..w {
            bob.push(chars[(next(&mut seed) % chars.len() as u64) as usize] as char);
        }
        bob.push('\n');
    }
    v.push((format!("ASCII art, dense {w}×{h} block"), Kind::Ascii, bob));
    v
}

/// Runs the benchmark over `root/content` and prints the report.
pub fn run(root: &Path) -> Result<()> {
    let content = root.join("content");
    let mut found = Vec::new();
    sources(&content, &content, &mut found)?;
    let mut out = String::new();
    writeln!(
        out,
        "\n## Diagrams: render time per diagram (median of 5, after a warm-up)\n"
    )?;
    writeln!(out, "| diagram | kind | source bytes | ms |")?;
    writeln!(out, "|---|---|---:|---:|")?;
    let mut per_kind: std::collections::BTreeMap<&str, (usize, Duration)> = Default::default();
    for s in &found {
        let t = time(s.kind, &s.text, 5).with_context(|| s.place.clone())?;
        writeln!(
            out,
            "| {} | {} | {} | {:.1} |",
            s.place,
            s.kind.label(),
            s.text.len(),
            t.as_secs_f64() * 1e3
        )?;
        let e = per_kind.entry(s.kind.label()).or_default();
        e.0 += 1;
        e.1 += t;
    }
    writeln!(out, "\n| kind | diagrams | total ms |")?;
    writeln!(out, "|---|---:|---:|")?;
    for (k, (n, t)) in &per_kind {
        writeln!(out, "| {k} | {n} | {:.1} |", t.as_secs_f64() * 1e3)?;
    }
    writeln!(
        out,
        "\n## Diagrams: the largest inputs the caps allow (one run each)\n"
    )?;
    writeln!(out, "| input | seconds |")?;
    writeln!(out, "|---|---:|")?;
    for (name, kind, text) in worst_cases() {
        let t = Instant::now();
        let r = render_raw(kind, &text);
        let note = match r {
            Ok(_) => String::new(),
            Err(e) => format!(" (refused: {e})"),
        };
        writeln!(out, "| {name}{note} | {:.2} |", t.elapsed().as_secs_f64())?;
    }
    print!("{out}");
    std::io::Write::flush(&mut std::io::stdout())?;
    Ok(())
}
