//! Markdown → HTML with pulldown-cmark: GFM tables, footnotes, strikethrough and task
//! lists; an id on every heading and a table of contents; fenced code tagged with its
//! language; `{{ query(name="…") }}` shortcodes replaced by build-time result tables;
//! and the plain text the search index needs.

use pulldown_cmark::{CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Serialize;

use crate::error::{Error, Result, line_of};

/// One heading in the table of contents.
#[derive(Debug, Clone, Serialize)]
pub struct TocEntry {
    /// 1–6.
    pub level: u32,
    /// Anchor id.
    pub id: String,
    /// Heading text.
    pub title: String,
}

/// A rendered page body.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The HTML.
    pub html: String,
    /// Headings in order.
    pub toc: Vec<TocEntry>,
    /// Visible text, for the search index and summaries.
    pub text: String,
    /// Where each heading of `toc` starts in `text` (byte offsets, same order): the search
    /// index cuts a page into its sections with them (sub-results).
    pub section_starts: Vec<usize>,
    /// Canned query names this page uses.
    pub queries: Vec<String>,
    /// Diagrams drawn on this page (filled in by the build, which renders them).
    pub diagrams: Vec<crate::diagrams::Diagram>,
    /// Ids of diagram files this page embeds with the `diagram` shortcode.
    pub embeds: Vec<String>,
}

/// Resolves a shortcode at `line` to HTML.
pub type Shortcodes<'a> = dyn Fn(&Shortcode, usize) -> Result<String> + Sync + 'a;

/// Turns a fenced code block into HTML, or `None` to leave it a code block. Arguments: the
/// language, the rest of the info string, the code, and the line of the opening fence.
pub type Fences<'a> = dyn Fn(&str, &str, &str, usize) -> Option<Result<String>> + Sync + 'a;

/// A parsed `{{ name(key="value", …) }}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortcode {
    /// Function name.
    pub name: String,
    /// Arguments in order.
    pub args: Vec<(String, String)>,
}

impl Shortcode {
    /// The value of argument `key`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Renders `body` of the file `display`, whose first body line is `body_line`.
pub fn render(
    display: &std::path::Path,
    body: &str,
    body_line: usize,
    shortcodes: &Shortcodes,
    fences: &Fences,
) -> Result<Rendered> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events: Vec<(Event, std::ops::Range<usize>)> =
        Parser::new_ext(body, options).into_offset_iter().collect();
    let line_at = |offset: usize| body_line + line_of(body, offset) - 1;
    check_nesting(&events).map_err(|(offset, what)| {
        Error::at(display, line_at(offset), what)
            .hint(format!("flatten it: bake accepts {MAX_NESTING} levels of markdown blocks and {MAX_HTML_NESTING} of raw HTML elements"))
    })?;

    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut rendered = Rendered::default();
    let mut used_ids: std::collections::HashMap<String, usize> = Default::default();
    // Offsets of the headings in the text before its whitespace is collapsed.
    let mut raw_starts: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let (event, range) = &events[i];
        match event {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => {
                let end = find_end(&events, i, |e| matches!(e, Event::End(TagEnd::Heading(_))));
                let title = plain(&events[i + 1..end]);
                let base = id
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| slugify(&title));
                let id = unique_id(
                    &mut used_ids,
                    if base.is_empty() {
                        "section".into()
                    } else {
                        base
                    },
                );
                raw_starts.push(rendered.text.len());
                rendered.toc.push(TocEntry {
                    level: heading_number(*level),
                    id: id.clone(),
                    title,
                });
                out.push(Event::Start(Tag::Heading {
                    level: *level,
                    id: Some(CowStr::from(id)),
                    classes: classes.clone(),
                    attrs: attrs.clone(),
                }));
                i += 1;
                continue;
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let info = info.trim();
                let (lang, rest) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
                let end = find_end(&events, i, |e| matches!(e, Event::End(TagEnd::CodeBlock)));
                let code: String = events[i + 1..end]
                    .iter()
                    .filter_map(|(e, _)| match e {
                        Event::Text(t) => Some(t.as_ref()),
                        _ => None,
                    })
                    .collect();
                if let Some(html) = fences(lang, rest, &code, line_at(range.start)) {
                    out.push(Event::Html(CowStr::from(html?)));
                    i = end + 1;
                    continue;
                }
            }
            Event::Start(Tag::Paragraph) => {
                let end = find_end(&events, i, |e| matches!(e, Event::End(TagEnd::Paragraph)));
                let inner = &events[i + 1..end];
                let only_text = inner
                    .iter()
                    .all(|(e, _)| matches!(e, Event::Text(_) | Event::SoftBreak));
                if only_text {
                    let text = plain(inner);
                    if let Some(sc) = parse_shortcode(&text).map_err(|m| {
                        Error::at(display, line_at(range.start), m).hint(
                            r#"write a shortcode on its own line as {{ query(name="NAME") }}"#,
                        )
                    })? {
                        if sc.name == "query"
                            && let Some(n) = sc.arg("name")
                        {
                            rendered.queries.push(n.to_string());
                        }
                        let html = shortcodes(&sc, line_at(range.start))?;
                        out.push(Event::Html(CowStr::from(html)));
                        i = end + 1;
                        continue;
                    }
                }
                // A shortcode written inside a sentence would stay literal text: say so.
                for (e, r) in inner {
                    if let Event::Text(t) = e
                        && let Some(at) = inline_shortcode(t)
                    {
                        return Err(Error::at(
                            display,
                            line_at(r.start),
                            format!("the shortcode `{at}` is inside a paragraph, where it would be left as text"),
                        )
                        .hint("put the shortcode on a line of its own, with a blank line before and after"));
                    }
                }
            }
            // A wide table scrolls in a box of its own instead of widening the page (a phone's
            // 375 px); the box takes focus so that a keyboard can scroll it too.
            Event::Start(Tag::Table(_)) => out.push(Event::Html(CowStr::from(
                r#"<div class="table-scroll" tabindex="0">"#,
            ))),
            // pulldown-cmark's checkbox has no accessible name (axe: "form elements must have
            // labels"); the item's text follows it, so the name says only its state.
            Event::TaskListMarker(done) => {
                out.push(Event::InlineHtml(CowStr::from(if *done {
                    r#"<input type="checkbox" disabled checked aria-label="done"> "#
                } else {
                    r#"<input type="checkbox" disabled aria-label="to do"> "#
                })));
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Event::Text(t) | Event::Code(t) = event {
            rendered.text.push_str(t);
        } else if matches!(event, Event::End(_) | Event::SoftBreak | Event::HardBreak) {
            rendered.text.push(' ');
        }
        out.push(event.clone());
        if matches!(event, Event::End(TagEnd::Table)) {
            out.push(Event::Html(CowStr::from("</div>")));
        }
        i += 1;
    }
    let mut html = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    // A code block scrolls sideways in its box when a line is wider than the screen: it
    // takes focus so that a keyboard can scroll it (axe: scrollable-region-focusable).
    rendered.html = alignment_as_classes(html).replace("<pre><code", "<pre tabindex=\"0\"><code");
    (rendered.text, rendered.section_starts) = collapse_sections(&rendered.text, &raw_starts);
    Ok(rendered)
}

/// Deepest nesting of markdown containers (quotes, lists, emphasis…) a page may have.
pub const MAX_NESTING: usize = 100;
/// Deepest nesting of raw HTML elements a page may have.
pub const MAX_HTML_NESTING: usize = 256;

/// Refuses absurdly deep nesting (3,000 nested `>` fit in 6 KB) before anything recursive —
/// the HTML minifier, the browser — has to walk it; returns the offset where it got too deep.
fn check_nesting(
    events: &[(Event, std::ops::Range<usize>)],
) -> std::result::Result<(), (usize, String)> {
    let (mut depth, mut html) = (0usize, 0usize);
    for (e, range) in events {
        match e {
            Event::Start(_) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err((
                        range.start,
                        format!("markdown blocks are nested more than {MAX_NESTING} levels deep"),
                    ));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => {
                let deepest;
                (html, deepest) = html_depth_after(html, h);
                if deepest > MAX_HTML_NESTING {
                    return Err((
                        range.start,
                        format!(
                            "raw HTML elements are nested more than {MAX_HTML_NESTING} levels deep"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Open-element depth after `html` and the deepest it got, starting from `depth`: start tags
/// open (except void and self-closed ones, and elements whose end tag HTML lets authors
/// leave out), end tags close.
fn html_depth_after(mut depth: usize, html: &str) -> (usize, usize) {
    let mut deepest = depth;
    const NO_END_NEEDED: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody",
        "tfoot", "colgroup", "rt", "rp", "optgroup",
    ];
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let self_closed = rest[..tag_end].ends_with('/');
        if closing {
            if !NO_END_NEEDED.contains(&name.as_str()) {
                depth = depth.saturating_sub(1);
            }
        } else if !self_closed && !NO_END_NEEDED.contains(&name.as_str()) {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    (depth, deepest)
}

/// pulldown-cmark aligns table columns with `style="text-align: …"`, which the site's CSP
/// (`style-src 'self'`) blocks; classes from the stylesheet do the same job.
fn alignment_as_classes(html: String) -> String {
    if !html.contains("style=\"text-align: ") {
        return html;
    }
    let mut out = html;
    for cell in ["th", "td"] {
        for align in ["left", "center", "right"] {
            out = out.replace(
                &format!("<{cell} style=\"text-align: {align}\">"),
                &format!("<{cell} class=\"align-{align}\">"),
            );
        }
    }
    out
}

fn find_end(
    events: &[(Event, std::ops::Range<usize>)],
    start: usize,
    is_end: impl Fn(&Event) -> bool,
) -> usize {
    events[start..]
        .iter()
        .position(|(e, _)| is_end(e))
        .map(|p| start + p)
        .unwrap_or(events.len() - 1)
}

fn plain(events: &[(Event, std::ops::Range<usize>)]) -> String {
    let mut s = String::new();
    for (e, _) in events {
        match e {
            Event::Text(t) | Event::Code(t) => s.push_str(t),
            Event::SoftBreak | Event::HardBreak => s.push(' '),
            _ => {}
        }
    }
    s.trim().to_string()
}

fn heading_number(level: HeadingLevel) -> u32 {
    level as u32
}

fn unique_id(used: &mut std::collections::HashMap<String, usize>, base: String) -> String {
    let n = used.entry(base.clone()).or_insert(0);
    *n += 1;
    if *n == 1 {
        base
    } else {
        format!("{base}-{}", *n - 1)
    }
}

pub use crate::slug::slugify;

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with its whitespace collapsed, and where each part starting at `starts` (raw
/// offsets, ascending) begins in the result: each part is collapsed alone, so the offsets
/// stay exact.
fn collapse_sections(text: &str, starts: &[usize]) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut offsets = Vec::with_capacity(starts.len());
    let mut bounds = starts.to_vec();
    bounds.push(text.len());
    let push = |part: &str, out: &mut String| {
        let part = collapse_whitespace(part);
        if !part.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&part);
        }
    };
    push(&text[..bounds[0]], &mut out);
    for pair in bounds.windows(2) {
        // The next part starts after the separating space.
        offsets.push(if out.is_empty() { 0 } else { out.len() + 1 });
        push(&text[pair[0]..pair[1]], &mut out);
        let last = offsets.len() - 1;
        offsets[last] = offsets[last].min(out.len());
    }
    // A part that was empty (a heading without text) starts where the next text does, after
    // the separating space.
    for o in &mut offsets {
        if out[*o..].starts_with(' ') {
            *o += 1;
        }
    }
    (out, offsets)
}

/// Parses `a="x", b='y'` (commas optional), as in shortcode arguments and fence attributes.
pub fn parse_key_values(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("`{rest}`: write arguments as key=\"value\""))?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| format!("the value of `{key}` must be quoted"))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| format!("the value of `{key}` is not closed"))?;
        out.push((key, after[1..1 + close].to_string()));
        rest = after[close + 2..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    Ok(out)
}

/// The shortcodes a page may use.
const SHORTCODES: &[&str] = &["query", "diagram"];

/// The start of a shortcode call (`{{ query(` …) in `text`, if it holds one.
fn inline_shortcode(text: &str) -> Option<String> {
    text.match_indices("{{").find_map(|(at, _)| {
        let rest = text[at + 2..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        (SHORTCODES.contains(&name.as_str()) && after.starts_with('('))
            .then(|| format!("{{{{ {name}(…) }}}}"))
    })
}

/// Parses `{{ name(a="x", b="y") }}`; Ok(None) if the text is not a shortcode at all.
pub fn parse_shortcode(text: &str) -> std::result::Result<Option<Shortcode>, String> {
    let t = text.trim();
    let Some(inner) = t.strip_prefix("{{").and_then(|s| s.strip_suffix("}}")) else {
        return Ok(None);
    };
    let inner = inner.trim();
    let Some(open) = inner.find('(') else {
        return Err(format!(
            "`{t}` looks like a shortcode but has no arguments in ( )"
        ));
    };
    let name = inner[..open].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{t}`: `{name}` is not a shortcode name"));
    }
    let Some(args_text) = inner[open + 1..].strip_suffix(')') else {
        return Err(format!("`{t}`: the argument list is not closed with )"));
    };
    let args = parse_key_values(args_text).map_err(|m| format!("`{t}`: {m}"))?;
    Ok(Some(Shortcode {
        name: name.to_string(),
        args,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn no_fences(_: &str, _: &str, _: &str, _: usize) -> Option<Result<String>> {
        None
    }

    #[test]
    fn fences_can_be_replaced_with_their_line() {
        let f = |lang: &str, rest: &str, code: &str, line: usize| {
            (lang == "dot").then(|| Ok(format!("<figure>{rest}|{code}|{line}</figure>")))
        };
        let r = render(
            Path::new("a.md"),
            "Intro.\n\n```dot title=\"T\"\ndigraph { a -> b }\n```\n\n```rust\nfn x() {}\n```\n",
            20,
            &none,
            &f,
        )
        .unwrap();
        assert!(
            r.html
                .contains("<figure>title=\"T\"|digraph { a -> b }\n|22</figure>"),
            "{}",
            r.html
        );
        assert!(r.html.contains("language-rust"), "{}", r.html);
    }

    fn none(_: &Shortcode, _: usize) -> Result<String> {
        Ok("<table>Q</table>".into())
    }

    #[test]
    fn each_heading_knows_where_its_section_starts_in_the_text() {
        let r = render(
            Path::new("a.md"),
            "Intro   text.\n\n## First  part\n\nOne\n\ttwo.\n\n##\n\n## Third\n\nEnd.\n",
            1,
            &none,
            &no_fences,
        )
        .unwrap();
        assert_eq!(r.text, "Intro text. First part One two. Third End.");
        assert_eq!(r.section_starts.len(), r.toc.len());
        let at = |i: usize| &r.text[r.section_starts[i]..];
        assert!(
            at(0).starts_with("First part One"),
            "{:?}",
            r.section_starts
        );
        // An empty heading starts where the next one does.
        assert!(at(1).starts_with("Third"));
        assert!(at(2).starts_with("Third End."));
    }

    #[test]
    fn table_alignment_uses_classes_not_inline_styles() {
        let r = render(
            Path::new("a.md"),
            "| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n",
            1,
            &none,
            &no_fences,
        )
        .unwrap();
        assert!(!r.html.contains("style="), "{}", r.html);
        assert!(
            r.html
                .starts_with("<div class=\"table-scroll\" tabindex=\"0\"><table>")
                && r.html.trim_end().ends_with("</table>\n</div>"),
            "a table scrolls in a box of its own: {}",
            r.html
        );
        for c in [
            "<th class=\"align-left\">",
            "<td class=\"align-center\">",
            "<td class=\"align-right\">",
        ] {
            assert!(r.html.contains(c), "{c} missing in {}", r.html);
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_its_line() {
        let quotes = format!("Intro.\n\n{}deep\n", ">".repeat(3000));
        let e = render(Path::new("a.md"), &quotes, 5, &none, &no_fences)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.to_string().contains("nested more than 100"), "{e}");
        let lists = format!("{}x\n", "- ".repeat(2000));
        assert!(render(Path::new("a.md"), &lists, 1, &none, &no_fences).is_err());
        assert_eq!(
            html_depth_after(0, "<div><span>a</span><br><img src=x/>"),
            (1, 2)
        );
        let divs = format!("{}x{}\n", "<div>".repeat(3000), "</div>".repeat(3000));
        let e = render(Path::new("a.md"), &divs, 1, &none, &no_fences)
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("raw HTML"), "{e}");
        // Ordinary nesting and unclosed <p>/<li> are fine.
        let ok = format!(
            "{}x\n\n{}\n",
            "> ".repeat(50),
            "<p>a<p>b<li>c<br>".repeat(400)
        );
        render(Path::new("a.md"), &ok, 1, &none, &no_fences).unwrap();
    }

    #[test]
    fn headings_get_unique_ids_and_toc() {
        let r = render(
            Path::new("a.md"),
            "# Hello, World!\n## ETag and Last-Modified\n## Hello World\n## Hello World\n",
            1,
            &none,
            &no_fences,
        )
        .unwrap();
        assert!(r.html.contains(r#"<h1 id="hello-world">"#), "{}", r.html);
        assert!(r.html.contains(r#"<h2 id="etag-and-last-modified">"#));
        assert!(r.html.contains(r#"<h2 id="hello-world-1">"#));
        assert!(r.html.contains(r#"<h2 id="hello-world-2">"#));
        assert_eq!(r.toc.len(), 4);
        assert_eq!(r.toc[1].level, 2);
    }

    #[test]
    fn gfm_features_and_code_classes() {
        let md = "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ new[^1]\n\n[^1]: note\n\n- [x] done\n- [ ] open\n\n```rust\nfn x() {}\n```\n";
        let r = render(Path::new("a.md"), md, 1, &none, &no_fences).unwrap();
        for needle in [
            "<table>",
            "<del>old</del>",
            "footnote",
            r#"<input type="checkbox" disabled checked aria-label="done"> done"#,
            r#"<pre tabindex="0"><code class="language-rust">"#,
        ] {
            assert!(r.html.contains(needle), "missing {needle} in {}", r.html);
        }
        assert!(
            r.html
                .contains(r#"<input type="checkbox" disabled aria-label="to do"> open"#),
            "{}",
            r.html
        );
    }

    #[test]
    fn escapes_code() {
        let r = render(
            Path::new("a.md"),
            "```html\n<img src=x onerror=\"window.__xss=1\">\n```\n",
            1,
            &none,
            &no_fences,
        )
        .unwrap();
        assert!(r.html.contains("&lt;img src=x"), "{}", r.html);
        assert!(!r.html.contains("<img"));
    }

    #[test]
    fn shortcodes_are_replaced_with_line_numbers() {
        let seen = std::sync::Mutex::new(0);
        let f = |sc: &Shortcode, line: usize| {
            *seen.lock().unwrap() = line;
            assert_eq!(sc.arg("name"), Some("busiest_routes"));
            Ok("<table>Q</table>".to_string())
        };
        let r = render(
            Path::new("a.md"),
            "Intro.\n\n{{ query(name=\"busiest_routes\") }}\n",
            10,
            &f,
            &no_fences,
        )
        .unwrap();
        assert!(r.html.contains("<table>Q</table>"), "{}", r.html);
        assert!(!r.html.contains("{{"));
        assert_eq!(*seen.lock().unwrap(), 12);
        assert_eq!(r.queries, vec!["busiest_routes"]);
        // Inside code, shortcodes stay text.
        let r = render(
            Path::new("a.md"),
            "```\n{{ query(name=\"x\") }}\n```\n",
            1,
            &none,
            &no_fences,
        )
        .unwrap();
        assert!(r.html.contains("{{ query"), "{}", r.html);
    }

    #[test]
    fn bad_shortcodes_are_errors() {
        let e = render(
            Path::new("a.md"),
            "\n{{ query(name=busiest) }}\n",
            5,
            &none,
            &no_fences,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(parse_shortcode("{{ query }}").is_err());
        assert_eq!(parse_shortcode("plain text").unwrap(), None);
    }

    #[test]
    fn a_shortcode_inside_a_sentence_is_an_error_at_its_line() {
        let md = "Intro.\n\nThe busiest routes: {{ query(name=\"busiest_routes\") }} and more.\n";
        let e = render(Path::new("a.md"), md, 5, &none, &no_fences).unwrap_err();
        assert_eq!(e.line, Some(7));
        assert!(e.to_string().contains("inside a paragraph"), "{e}");
        // In inline code it is text, as in a code block; other braces are text too.
        let md = "Write `{{ query(name=\"x\") }}` on its own line; {{ not a shortcode }}.\n";
        let r = render(Path::new("a.md"), md, 1, &none, &no_fences).unwrap();
        assert!(r.html.contains("{{ query"), "{}", r.html);
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slugify("  Cache-Control: in depth! "),
            "cache-control-in-depth"
        );
        assert_eq!(slugify("Bücher & 日本語"), "bücher-日本語");
    }
}
