//! Finishing a renderer's SVG so it can be inlined in a page and served as a file:
//!
//! - **no shared ids**: every `id` gets the diagram's prefix, and every reference to it
//!   (`url(#…)`, `href="#…"`, selectors) follows, so two diagrams on one page never
//!   cross-wire their markers or clip paths;
//! - **no style sheets**: renderers style their output with `<style>` blocks and `style`
//!   attributes, which the site's Content-Security-Policy (`style-src 'self'`) blocks in
//!   pages and which would leak into the whole page when inlined. Each rule is applied to
//!   the elements it matches as presentation attributes (`fill`, `stroke`, `font-size`…),
//!   which CSP allows and which the page's CSS can still override for theming;
//! - **no script**: only static drawing elements and attributes are kept (allow-lists,
//!   names compared in any case and namespace): `<script>`, `<foreignObject>`, animation
//!   (`<set>` can write `javascript:` into a link), event attributes, links out of the
//!   drawing and `javascript:` values are dropped, since some hosts ignore `_headers` and
//!   so the CSP;
//! - **accessible**: a `<title>` first, `role="img"`, and the class `bake-diagram`.

use std::collections::HashSet;

use wasm_query::search::escape_html;

use super::Kind;

/// Properties that SVG also accepts as presentation attributes.
const PRESENTATION: &[&str] = &[
    "alignment-baseline",
    "baseline-shift",
    "clip-path",
    "clip-rule",
    "color",
    "display",
    "dominant-baseline",
    "fill",
    "fill-opacity",
    "fill-rule",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "letter-spacing",
    "marker-end",
    "marker-mid",
    "marker-start",
    "opacity",
    "paint-order",
    "shape-rendering",
    "stop-color",
    "stop-opacity",
    "stroke",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-opacity",
    "stroke-width",
    "text-anchor",
    "text-decoration",
    "vector-effect",
    "visibility",
    "word-spacing",
];

/// The elements a finished drawing may keep (local names, compared in lower case); any
/// other is dropped with everything inside it.
const ELEMENTS: &[&str] = &[
    "svg",
    "a",
    "g",
    "defs",
    "symbol",
    "use",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "textpath",
    "marker",
    "clippath",
    "mask",
    "pattern",
    "lineargradient",
    "radialgradient",
    "stop",
    "filter",
    "feblend",
    "fecolormatrix",
    "fecomposite",
    "fedropshadow",
    "feflood",
    "fegaussianblur",
    "femerge",
    "femergenode",
    "feoffset",
];

/// The attributes a finished drawing may keep besides [`PRESENTATION`] ones, `aria-*` and
/// `data-*` (compared in lower case); `href` only to `#…` inside the drawing.
const ATTRIBUTES: &[&str] = &[
    "id",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "fx",
    "fy",
    "fr",
    "width",
    "height",
    "d",
    "points",
    "pathlength",
    "transform",
    "viewbox",
    "preserveaspectratio",
    "xmlns",
    "xmlns:xlink",
    "version",
    "href",
    "xlink:href",
    "dx",
    "dy",
    "rotate",
    "textlength",
    "lengthadjust",
    "startoffset",
    "method",
    "spacing",
    "side",
    "markerwidth",
    "markerheight",
    "markerunits",
    "refx",
    "refy",
    "orient",
    "offset",
    "gradientunits",
    "gradienttransform",
    "spreadmethod",
    "patternunits",
    "patterncontentunits",
    "patterntransform",
    "clippathunits",
    "maskunits",
    "maskcontentunits",
    "filterunits",
    "primitiveunits",
    "stddeviation",
    "in",
    "in2",
    "result",
    "mode",
    "operator",
    "k1",
    "k2",
    "k3",
    "k4",
    "values",
    "type",
    "flood-color",
    "flood-opacity",
    "lighting-color",
    "mask",
    "filter",
    "font-variant",
    "writing-mode",
    "xml:space",
    "role",
    "focusable",
    "overflow",
    "cursor",
];

/// One piece of an SVG document.
#[derive(Debug, Clone)]
enum Node {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    End(String),
    Text(String),
}

/// Splits markup into tags and text; drops comments, processing instructions and doctypes.
fn tokenize(src: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut rest = src;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.push(Node::Text(rest.to_string()));
            break;
        };
        if lt > 0 {
            out.push(Node::Text(rest[..lt].to_string()));
        }
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.find("-->").map(|i| &r[i + 3..]).unwrap_or("");
            continue;
        }
        if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").unwrap_or(r.len());
            out.push(Node::Text(escape_html(&r[..end])));
            rest = r.get(end + 3..).unwrap_or("");
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") {
            rest = rest.find('>').map(|i| &rest[i + 1..]).unwrap_or("");
            continue;
        }
        let end = tag_end(rest);
        let tag = &rest[1..end];
        rest = &rest[(end + 1).min(rest.len())..];
        if let Some(name) = tag.strip_prefix('/') {
            if is_name(name.trim()) {
                out.push(Node::End(name.trim().to_string()));
            }
            continue;
        }
        let self_closing = tag.trim_end().ends_with('/');
        let tag = tag.trim_end().trim_end_matches('/');
        let name_end = tag.find(|c: char| c.is_whitespace()).unwrap_or(tag.len());
        // A browser ends a tag name at `/` and reads what follows as attributes
        // (`<rect/onload=…>`); a name that is not a plain XML name is dropped, not guessed at.
        if !is_name(&tag[..name_end]) {
            continue;
        }
        out.push(Node::Start {
            name: tag[..name_end].to_string(),
            attrs: parse_attrs(&tag[name_end..]),
            self_closing,
        });
    }
    out
}

/// Whether `s` is a plain XML name (ASCII): what renderers write, and what no browser splits.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Whether an attribute value is a `javascript:` URL to a browser: after character
/// references are decoded and the whitespace and control characters URLs ignore are gone.
/// Any attribute counts, since SMIL (`<set attributeName="href" to=…>`) moves values into links.
fn is_script_url(value: &str) -> bool {
    let mut text = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('&') {
        text.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let decoded = match name.strip_prefix('#') {
            Some(n) => match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => n.parse::<u32>().ok(),
            }
            .and_then(char::from_u32),
            None => match name.to_ascii_lowercase().as_str() {
                "colon" => Some(':'),
                "tab" | "newline" => Some(' '),
                _ => None,
            },
        };
        match decoded {
            Some(c) => {
                text.push(c);
                rest = rest[end..].strip_prefix(';').unwrap_or(&rest[end..]);
            }
            None => text.push('&'),
        }
    }
    text.push_str(rest);
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    squeezed.contains("javascript:")
}

/// Index of the `>` closing the tag at the start of `s`, skipping quoted values.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return i,
            _ => {}
        }
    }
    s.len()
}

fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = r[1..].find(q).map(|i| i + 1).unwrap_or(r.len());
                    value = r[1..close].to_string();
                    rest = r.get(close + 1..).unwrap_or("");
                }
                _ => {
                    let end = r.find(char::is_whitespace).unwrap_or(r.len());
                    value = escape_html(&r[..end]);
                    rest = &r[end..];
                }
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
        rest = rest.trim_start();
    }
    attrs
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Attribute values are kept escaped as written; `"` must not appear raw inside `"…"`, and
/// `<` (not allowed there in XML) is escaped so no `<script` text survives even in a value.
fn requote(value: &str) -> String {
    value.replace('"', "&quot;").replace('<', "&lt;")
}

/// A compound selector: optional element name and classes (`rect.backdrop`, `.a14`, `*`).
#[derive(Debug, Clone, PartialEq)]
struct Compound {
    name: Option<String>,
    classes: Vec<String>,
    id: Option<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// Compounds from outermost to the element itself (descendant combinators).
    selector: Vec<Compound>,
    specificity: (usize, usize, usize),
    order: usize,
    decls: Vec<(String, String)>,
}

/// Parses the rules of a style sheet that can be applied statically; rules with pseudo
/// classes, attribute selectors or inside at-rules (`@media`, `@keyframes`) are skipped.
fn parse_css(css: &str, first_order: usize) -> Vec<Rule> {
    let css = strip_css_comments(css);
    let mut rules = Vec::new();
    let mut rest = css.as_str();
    let mut order = first_order;
    while let Some(open) = rest.find('{') {
        let prelude = rest[..open].trim();
        // Find the matching close, skipping nested blocks.
        let mut depth = 0;
        let mut close = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let block = &rest[open + 1..close.min(rest.len())];
        rest = rest.get(close + 1..).unwrap_or("");
        if prelude.starts_with('@') {
            continue;
        }
        let decls = parse_declarations(block);
        for sel in prelude.split(',') {
            if let Some((selector, specificity)) = parse_selector(sel) {
                rules.push(Rule {
                    selector,
                    specificity,
                    order,
                    decls: decls.clone(),
                });
                order += 1;
            }
        }
    }
    rules
}

fn strip_css_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i + 2..]
            .find("*/")
            .map(|j| &rest[i + 2 + j + 2..])
            .unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn parse_declarations(block: &str) -> Vec<(String, String)> {
    block
        .split(';')
        .filter_map(|d| {
            let (k, v) = d.split_once(':')?;
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_end_matches("!important").trim();
            (!k.is_empty() && !v.is_empty()).then(|| (k, v.to_string()))
        })
        .collect()
}

fn parse_selector(sel: &str) -> Option<(Vec<Compound>, (usize, usize, usize))> {
    let sel = sel.trim();
    if sel.is_empty() || sel.contains([':', '[', '+', '~']) {
        return None;
    }
    let mut compounds = Vec::new();
    let mut spec = (0, 0, 0);
    for part in sel.split(|c: char| c.is_whitespace() || c == '>') {
        if part.is_empty() {
            continue;
        }
        let mut c = Compound {
            name: None,
            classes: vec![],
            id: None,
        };
        let mut rest = part;
        let name_end = rest.find(['.', '#']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if !name.is_empty() && name != "*" {
            c.name = Some(name.to_string());
            spec.2 += 1;
        }
        rest = &rest[name_end..];
        while !rest.is_empty() {
            let marker = rest.as_bytes()[0];
            let end = rest[1..]
                .find(['.', '#'])
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            let value = rest[1..end].to_string();
            if marker == b'.' {
                c.classes.push(value);
                spec.1 += 1;
            } else {
                c.id = Some(value);
                spec.0 += 1;
            }
            rest = &rest[end..];
        }
        compounds.push(c);
    }
    (!compounds.is_empty()).then_some((compounds, spec))
}

/// What a selector sees of an element.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    classes: Vec<String>,
    id: Option<String>,
}

fn compound_matches(c: &Compound, e: &Element) -> bool {
    c.name.as_ref().is_none_or(|n| n == &e.name)
        && c.id.as_ref().is_none_or(|i| Some(i) == e.id.as_ref())
        && c.classes.iter().all(|k| e.classes.contains(k))
}

fn rule_matches(rule: &Rule, element: &Element, ancestors: &[Element]) -> bool {
    let (last, outer) = rule.selector.split_last().expect("selectors are not empty");
    if !compound_matches(last, element) {
        return false;
    }
    // Outer compounds must match ancestors in order (innermost last), greedily.
    let mut remaining = outer.iter().rev().peekable();
    for a in ancestors.iter().rev() {
        match remaining.peek() {
            Some(c) if compound_matches(c, a) => {
                remaining.next();
            }
            Some(_) => {}
            None => break,
        }
    }
    remaining.peek().is_none()
}

/// The finished SVG of a diagram; see the module docs.
pub fn finish(raw: &str, id: &str, title: &str, kind: Kind) -> String {
    let prefix = format!("{id}-");
    let mut nodes = tokenize(raw);

    // Style sheets, in document order; then drop them.
    let mut rules = Vec::new();
    let mut in_style = false;
    for n in &nodes {
        match n {
            Node::Start {
                name, self_closing, ..
            } if name == "style" && !self_closing => in_style = true,
            Node::End(name) if name == "style" => in_style = false,
            Node::Text(t) if in_style => {
                let t = unescape(t);
                let first = rules.len();
                rules.extend(parse_css(&t, first));
            }
            _ => {}
        }
    }
    // `style` is read above, `title` and `desc` come back from the page's own title.
    nodes = keep_elements(nodes, ELEMENTS);

    // Ids, so references to them can follow the prefix.
    let ids: HashSet<String> = nodes
        .iter()
        .filter_map(|n| match n {
            Node::Start { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.clone()),
            _ => None,
        })
        .collect();

    let mut out = String::with_capacity(raw.len());
    let mut ancestors: Vec<Element> = Vec::new();
    let mut root_done = false;
    for node in nodes {
        match node {
            Node::Start {
                name,
                attrs,
                self_closing,
            } => {
                let element = Element {
                    name: name.clone(),
                    classes: attrs
                        .iter()
                        .find(|(k, _)| k == "class")
                        .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default(),
                    id: attrs
                        .iter()
                        .find(|(k, _)| k == "id")
                        .map(|(_, v)| v.clone()),
                };
                let attrs = restyle(&element, &ancestors, attrs, &rules);
                let attrs = clean(attrs, &ids, &prefix);
                if !root_done && name == "svg" {
                    root_done = true;
                    out.push_str(&root_tag(&attrs, id, title, kind));
                } else {
                    out.push('<');
                    out.push_str(&name);
                    for (k, v) in &attrs {
                        out.push_str(&format!(" {k}=\"{}\"", requote(v)));
                    }
                    out.push_str(if self_closing { "/>" } else { ">" });
                }
                if !self_closing {
                    ancestors.push(element);
                }
            }
            Node::End(name) => {
                ancestors.pop();
                out.push_str(&format!("</{name}>"));
            }
            Node::Text(t) => out.push_str(&t),
        }
    }
    out.trim().to_string() + "\n"
}

/// Keeps only the elements named in `allowed`, dropping any other with everything inside it.
/// Names match in any case and with any namespace prefix: HTML lowercases `<SCRIPT>`, and
/// XML runs `<svg:script>`.
fn keep_elements(nodes: Vec<Node>, allowed: &[&str]) -> Vec<Node> {
    let local = |n: &str| n.rsplit(':').next().unwrap_or(n).to_ascii_lowercase();
    let mut out = Vec::with_capacity(nodes.len());
    let mut skipping: Option<(String, usize)> = None;
    for n in nodes {
        if let Some((name, depth)) = &mut skipping {
            match &n {
                Node::Start {
                    name: m,
                    self_closing: false,
                    ..
                } if local(m) == *name => *depth += 1,
                Node::End(m) if local(m) == *name => {
                    *depth -= 1;
                    if *depth == 0 {
                        skipping = None;
                    }
                }
                _ => {}
            }
            continue;
        }
        match &n {
            Node::Start {
                name, self_closing, ..
            } if !allowed.contains(&local(name).as_str()) => {
                if !self_closing {
                    skipping = Some((local(name), 1));
                }
            }
            // The end tag of an element never opened (or dropped) is dropped too.
            Node::End(name) if !allowed.contains(&local(name).as_str()) => {}
            _ => out.push(n),
        }
    }
    out
}

/// Whether a value has a `url(…)` that points out of the drawing (a request to another
/// site: tracking, or a resource the CSP would block): only `url(#id)` may stay.
fn loads_from_outside(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower.match_indices("url(").any(|(at, _)| {
        let target = lower[at + 4..].trim_start_matches([' ', '\t', '\n', '\r', '"', '\'']);
        !target.starts_with('#')
    })
}

/// Whether a drawing may keep attribute `name` (see [`ATTRIBUTES`]).
fn allowed_attribute(name: &str) -> bool {
    let lk = name.to_ascii_lowercase();
    ATTRIBUTES.contains(&lk.as_str())
        || PRESENTATION.contains(&lk.as_str())
        || lk.starts_with("aria-")
        || (lk.starts_with("data-") && lk.len() > 5)
}

/// Applies matching style rules and the `style` attribute as presentation attributes.
/// Precedence as in CSS: `style` attribute > rules (by specificity, then order) >
/// presentation attributes already present.
fn restyle(
    element: &Element,
    ancestors: &[Element],
    mut attrs: Vec<(String, String)>,
    rules: &[Rule],
) -> Vec<(String, String)> {
    let mut matched: Vec<&Rule> = rules
        .iter()
        .filter(|r| rule_matches(r, element, ancestors))
        .collect();
    matched.sort_by_key(|r| (r.specificity, r.order));
    let mut decls: Vec<(String, String)> = matched
        .iter()
        .flat_map(|r| r.decls.iter().cloned())
        .collect();
    if let Some(pos) = attrs.iter().position(|(k, _)| k == "style") {
        let (_, style) = attrs.remove(pos);
        decls.extend(parse_declarations(&unescape(&style)));
    }
    for (k, v) in decls {
        if !PRESENTATION.contains(&k.as_str()) || v.contains("var(") {
            continue;
        }
        let v = escape_html(&v);
        match attrs.iter_mut().find(|(a, _)| *a == k) {
            Some(slot) => slot.1 = v,
            None => attrs.push((k, v)),
        }
    }
    attrs
}

/// Prefixes ids and references; drops classes, event handlers and script links.
fn clean(
    attrs: Vec<(String, String)>,
    ids: &HashSet<String>,
    prefix: &str,
) -> Vec<(String, String)> {
    attrs
        .into_iter()
        .filter(|(k, v)| {
            let lk = k.to_ascii_lowercase();
            // Links may only point inside the drawing: no `javascript:`, no leaving the page.
            is_name(k)
                && allowed_attribute(k)
                && !loads_from_outside(v)
                && !lk.starts_with("on")
                && lk != "class"
                && (!lk.ends_with("href") || v.trim_start().starts_with('#'))
                && !is_script_url(v)
        })
        .map(|(k, v)| {
            if k == "id" {
                return (k, format!("{prefix}{v}"));
            }
            if k.ends_with("href") {
                if let Some(target) = v.strip_prefix('#')
                    && ids.contains(target)
                {
                    return (k, format!("#{prefix}{target}"));
                }
                return (k, v);
            }
            (k, prefix_urls(&v, ids, prefix))
        })
        .collect()
}

/// `url(#x)` → `url(#PREFIXx)` for known ids.
fn prefix_urls(v: &str, ids: &HashSet<String>, prefix: &str) -> String {
    if !v.contains("url(") {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + prefix.len());
    let mut rest = v;
    while let Some(i) = rest.find("url(") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let inner_end = rest.find(')').unwrap_or(rest.len());
        let inner = rest[..inner_end].trim().trim_matches(['"', '\'']);
        match inner.strip_prefix('#') {
            Some(target) if ids.contains(target) => out.push_str(&format!("#{prefix}{target}")),
            _ => out.push_str(&rest[..inner_end]),
        }
        rest = &rest[inner_end..];
    }
    out.push_str(rest);
    out
}

/// The outer `<svg>`: size and viewBox kept, identity and accessibility added.
fn root_tag(attrs: &[(String, String)], id: &str, title: &str, kind: Kind) -> String {
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let number = |v: Option<String>| {
        v.and_then(|s| s.trim_end_matches("px").trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n > 0.0)
    };
    let (w, h) = (number(get("width")), number(get("height")));
    let view_box = get("viewBox").or_else(|| match (w, h) {
        (Some(w), Some(h)) => Some(format!("0 0 {w} {h}")),
        _ => None,
    });
    let mut tag = String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"");
    if let Some(vb) = view_box {
        tag.push_str(&format!(" viewBox=\"{}\"", requote(&vb)));
    }
    if let (Some(w), Some(h)) = (w, h) {
        tag.push_str(&format!(
            " width=\"{}\" height=\"{}\"",
            fmt_num(w),
            fmt_num(h)
        ));
    }
    for (k, v) in attrs {
        if PRESENTATION.contains(&k.as_str()) {
            tag.push_str(&format!(" {k}=\"{}\"", requote(v)));
        }
    }
    tag.push_str(&format!(
        " class=\"bake-diagram bake-diagram-{}\" role=\"img\" aria-labelledby=\"{id}-title\"><title id=\"{id}-title\">{}</title>",
        kind.slug(),
        escape_html(title)
    ));
    tag
}

fn fmt_num(n: f64) -> String {
    let r = (n * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}
