//! The hostile-input corpus (`tests/fixtures/hostile/`, format in its README): every input
//! that once broke bake, run as a case. Each case must end with exit 0 or 1 (never a signal,
//! a panic or a hang), write nothing outside `site/`, and — when it is an error — name its
//! file (and line), say what to do and leave the previous `site/` byte-for-byte as it was.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

const BASE: &[(&str, &str)] = &[
    (
        "bake.toml",
        "title = \"Tiny\"\n\n[databases.db.tables.t]\nsource = \"data/t.csv\"\n",
    ),
    (
        "content/_index.md",
        "+++\ntitle = \"Home\"\n+++\nWelcome.\n",
    ),
    ("content/page.md", "+++\ntitle = \"Page\"\n+++\nHello.\n"),
    ("content/data/t.csv", "n,name\n1,one\n2,two\n"),
];

/// Folder name of the project in each case's temporary folder.
const PROJECT: &str = "my #1 site? 100% 'ok'";

/// `case.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    #[serde(default = "default_command")]
    command: String,
    #[serde(default)]
    args: Vec<String>,
    expect: Expect,
    file: Option<String>,
    line: Option<usize>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    site_has: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Error,
    Ok,
}

fn default_command() -> String {
    "build".into()
}

fn default_timeout() -> u64 {
    60
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/hostile")
}

/// Every file below `dir` (relative path → bytes), skipping nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(dir).expect("below").to_path_buf();
        if e.file_type().is_file() || e.file_type().is_symlink() {
            out.insert(rel, std::fs::read(e.path()).unwrap_or_default());
        } else if e.depth() > 0 {
            out.insert(rel, b"(folder)".to_vec());
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).sort_by_file_name() {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(from).expect("below");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("create folder");
        } else {
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("create folder");
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs bake in `project` and kills it after `timeout` (a hang is a failure, not a wait).
fn run(project: &Path, command: &str, args: &[String], timeout: Duration) -> Result<Run, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bake"))
        .arg(command)
        .arg("--config")
        .arg(project.join("bake.toml"))
        .args(args)
        .current_dir(project)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bake");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "bake {command} did not finish in {timeout:?} (a hang)"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Run {
        code: status.code(),
        stdout: reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    })
}

/// Runs one case; returns what went wrong.
fn run_case(dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("case.toml: {e}"))?;
    assert!(!case.about.is_empty());
    let outer = tempfile::tempdir().expect("temp dir");
    // The project's own path holds characters that mean something in URIs and shells.
    let project = outer.path().join(PROJECT);
    for (rel, body) in BASE {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("create folder");
        std::fs::write(&p, body).expect("write");
    }
    let first = run(&project, "build", &[], Duration::from_secs(60))?;
    if first.code != Some(0) {
        return Err(format!("the base site does not build: {}", first.stderr));
    }
    let site_before = snapshot(&project.join("site"));
    if dir.join("files").exists() {
        copy_tree(&dir.join("files"), &project);
    }
    for rel in &case.remove {
        std::fs::remove_file(project.join(rel)).map_err(|e| format!("remove {rel}: {e}"))?;
    }
    let project_before: BTreeMap<_, _> = snapshot(&project)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("site"))
        .collect();
    let r = run(
        &project,
        &case.command,
        &case.args,
        Duration::from_secs(case.timeout_secs),
    )?;
    let said = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    if r.stderr.contains("panicked") || r.stderr.contains("overflowed its stack") {
        return Err(format!("bake crashed:\n{said}"));
    }
    let want = match case.expect {
        Expect::Error => 1,
        Expect::Ok => 0,
    };
    if r.code != Some(want) {
        return Err(format!(
            "exit status {:?}, expected {want}:\n{said}",
            r.code
        ));
    }
    // Nothing beside the project, nothing new or changed in it outside site/.
    let beside: Vec<_> = std::fs::read_dir(outer.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != PROJECT)
        .collect();
    if !beside.is_empty() {
        return Err(format!("wrote beside the project: {beside:?}\n{said}"));
    }
    let project_after: BTreeMap<_, _> = snapshot(&project)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("site"))
        .collect();
    if project_after != project_before {
        let changed: Vec<_> = project_after
            .keys()
            .chain(project_before.keys())
            .filter(|k| project_after.get(*k) != project_before.get(*k))
            .collect();
        return Err(format!("wrote outside site/: {changed:?}\n{said}"));
    }
    match case.expect {
        Expect::Error => {
            if !r.stderr.contains("error: ") || !r.stderr.contains("help: ") {
                return Err(format!("no `error: ` and `help: `:\n{said}"));
            }
            if let Some(file) = &case.file {
                let at = match case.line {
                    Some(l) => format!("{file}:{l}: "),
                    None => format!("{file}:"),
                };
                if !r.stderr.contains(&at) {
                    return Err(format!("expected `{at}` in stderr:\n{said}"));
                }
            }
            if case.command == "build" && snapshot(&project.join("site")) != site_before {
                return Err(format!("site/ changed after a failed build:\n{said}"));
            }
            for s in &case.contains {
                if !r.stderr.contains(s) {
                    return Err(format!("expected `{s}` in stderr:\n{said}"));
                }
            }
        }
        Expect::Ok => {
            for s in &case.contains {
                if !r.stdout.contains(s) && !r.stderr.contains(s) {
                    return Err(format!("expected `{s}` in the output:\n{said}"));
                }
            }
            for rel in &case.site_has {
                if !project.join("site").join(rel).is_file() {
                    return Err(format!("site/{rel} is missing:\n{said}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn every_hostile_input_is_handled() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("the corpus folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("case.toml").exists())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", corpus().display());
    // Cases are independent processes: run them two at a time.
    let failures: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<Vec<&PathBuf>> = (0..2)
            .map(|i| cases.iter().skip(i).step_by(2).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .filter_map(|c| {
                            run_case(c).err().map(|e| {
                                format!("{}: {e}", c.file_name().expect("name").to_string_lossy())
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("runner"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
