use super::*;

const DOT: &str =
    "digraph { rankdir=LR; browser -> cdn [label=\"GET\"]; cdn -> origin [label=\"miss\"]; }";
const BOB: &str = "+--------+     +-------+\n| client |---->| cache |\n+--------+     +-------+\n";
const MERMAID: &str = "sequenceDiagram\n  Browser->>CDN: GET /app.css\n  CDN->>Origin: miss\n  Origin-->>CDN: 200\n  CDN-->>Browser: 200\n";
const FLOW: &str =
    "flowchart LR\n  A[Request] --> B{Cached?}\n  B -->|yes| C[Serve]\n  B -->|no| D[Fetch]\n";

fn ids(svg: &str) -> Vec<String> {
    svg.match_indices(" id=\"")
        .map(|(i, _)| {
            let rest = &svg[i + 5..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn every_kind_renders_to_a_safe_titled_svg() {
    for (kind, src) in [
        (Kind::Dot, DOT),
        (Kind::Ascii, BOB),
        (Kind::Mermaid, MERMAID),
        (Kind::Mermaid, FLOW),
    ] {
        let svg = render(kind, src, "d1", "Request <flow>", Path::new("x.md"), 3).unwrap();
        assert!(svg.starts_with("<svg xmlns="), "{kind:?}: {svg}");
        assert!(
            svg.contains("<title id=\"d1-title\">Request &lt;flow&gt;</title>"),
            "{svg}"
        );
        assert!(svg.contains("class=\"bake-diagram bake-diagram-"), "{svg}");
        for banned in [
            "<style",
            "<script",
            " style=",
            "<foreignObject",
            " class=\"node",
        ] {
            assert!(!svg.contains(banned), "{kind:?} has {banned}: {svg}");
        }
        assert!(
            ids(&svg).iter().all(|i| i.starts_with("d1-")),
            "{kind:?}: {svg}"
        );
        assert!(svg.contains("viewBox="), "{svg}");
    }
}

#[test]
fn styles_become_presentation_attributes() {
    let raw = "<svg width=\"10\" height=\"10\"><style>.a14 { font-size: 14px; } g text { fill: red } rect:hover { fill: blue } @media (x) { rect { stroke: green } }</style><defs><marker id=\"arrow\"/></defs><g><text class=\"a14\" style=\"font-weight: bold\">x</text></g><rect fill=\"white\" style=\"fill:#eee\"/><path marker-end=\"url(#arrow)\" onclick=\"alert(1)\"/><a href=\"javascript:alert(1)\"><text>y</text></a><script>alert(1)</script></svg>";
    let svg = svg::finish(raw, "p", "T", Kind::Dot);
    assert!(
        svg.contains("<text fill=\"red\" font-size=\"14px\" font-weight=\"bold\">x</text>"),
        "{svg}"
    );
    assert!(svg.contains("<rect fill=\"#eee\"/>"), "{svg}");
    assert!(svg.contains("<marker id=\"p-arrow\"/>"), "{svg}");
    assert!(svg.contains("marker-end=\"url(#p-arrow)\""), "{svg}");
    assert!(!svg.contains("alert"), "{svg}");
    assert!(!svg.contains("blue") && !svg.contains("green"), "{svg}");
    assert!(
        svg.contains("viewBox=\"0 0 10 10\" width=\"10\" height=\"10\""),
        "{svg}"
    );
}

/// SVG XSS payloads of the kinds published in filter-evasion cheat sheets and found by the
/// fuzzer, each inside a drawing: nothing that can run or load survives.
#[test]
fn svg_xss_corpus_leaves_nothing_that_runs() {
    let payloads = [
        "<script>alert(1)</script>",
        "<SCRIPT>alert(1)</SCRIPT>",
        "<svg:script>alert(1)</svg:script>",
        "<script type=\"text/ecmascript\">alert(1)</script>",
        "<scr<script>ipt>alert(1)</script>",
        "<foreignObject><iframe src=\"javascript:alert(1)\"></iframe></foreignObject>",
        "<foreignobject><body onload=\"alert(1)\"/></foreignobject>",
        "<g onload=\"alert(1)\"/>",
        "<rect ONCLICK=\"alert(1)\" width=\"1\"/>",
        "<rect onmouseover =\"alert(1)\"/>",
        "<a href=\"javascript:alert(1)\"><text>x</text></a>",
        "<a xlink:href=\"jav&#x09;ascript:alert(1)\"><text>x</text></a>",
        "<a href=\"https://evil.example/\"><text>x</text></a>",
        "<use href=\"data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+#x\"/>",
        "<use xlink:href=\"https://evil.example/x.svg#a\"/>",
        "<image href=\"https://evil.example/track.png\"/>",
        "<set attributeName=\"href\" to=\"javascript:alert(1)\"/>",
        "<animate attributeName=\"href\" values=\"javascript:alert(1)\"/>",
        "<a><animate attributeName=\"href\" values=\"javascript:alert(1)\"/><text>x</text></a>",
        "<handler type=\"application/ecmascript\">alert(1)</handler>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<embed src=\"javascript:alert(1)\"/>",
        "<object data=\"javascript:alert(1)\"></object>",
        "<style>@import url(https://evil.example/x.css);</style>",
        "<rect style=\"fill: url(https://evil.example/x)\"/>",
        "<rect fill=\"url(javascript:alert(1))\"/>",
        "<rect filter=\"url(https://evil.example/f.svg#f)\"/>",
        "<text>&lt;script&gt;alert(1)&lt;/script&gt;</text>",
        "<!--<script>alert(1)</script>-->",
        "<![CDATA[<script>alert(1)</script>]]>",
        "<svg onload=\"alert(1)\"><rect/></svg>",
        "<svg/onload=alert(1)>",
    ];
    for payload in payloads {
        let raw =
            format!("<svg width=\"10\" height=\"10\"><g>{payload}</g><rect width=\"1\"/></svg>");
        let svg = svg::finish(&raw, "p", "T", Kind::Dot);
        let lower = svg.to_ascii_lowercase();
        for banned in [
            "<script",
            "script>",
            "foreignobject",
            "<iframe",
            "<embed",
            "<object",
            "<set",
            "<animate",
            "<handler",
            "<image",
            "<style",
            "javascript",
            "evil.example",
            "data:",
        ] {
            assert!(!lower.contains(banned), "{payload} left {banned}: {svg}");
        }
        // No event handler attribute (` on…=`) anywhere.
        assert!(
            !lower
                .split_whitespace()
                .any(|w| w.starts_with("on") && w.contains('=')),
            "{payload} left a handler: {svg}"
        );
        // The drawing around it survives.
        assert!(svg.contains("<rect width=\"1\"/>"), "{payload}: {svg}");
    }
}

/// Elements and attributes outside the allow-lists go, the drawing stays.
#[test]
fn only_allowed_elements_and_attributes_are_kept() {
    let raw = "<svg width=\"10\" height=\"10\"><g data-edge-id=\"e1\" aria-label=\"edge\" formaction=\"x\" xml:base=\"https://evil.example/\"><unknown><rect/></unknown><rect Width=\"2\"/></g></svg>";
    let svg = svg::finish(raw, "p", "T", Kind::Dot);
    assert!(
        svg.contains("<g data-edge-id=\"e1\" aria-label=\"edge\">"),
        "{svg}"
    );
    assert!(
        !svg.contains("unknown") && !svg.contains("formaction") && !svg.contains("evil"),
        "{svg}"
    );
    assert!(svg.contains("<rect Width=\"2\"/>"), "{svg}");
    assert_eq!(svg.matches("<rect").count(), 1, "{svg}");
}

#[test]
fn two_diagrams_never_share_ids() {
    let a = render(Kind::Dot, DOT, "first", "A", Path::new("x.md"), 1).unwrap();
    let b = render(Kind::Dot, DOT, "second", "B", Path::new("x.md"), 9).unwrap();
    let (ia, ib) = (ids(&a), ids(&b));
    assert!(!ia.is_empty());
    assert!(ia.iter().all(|i| !ib.contains(i)), "{ia:?} {ib:?}");
}

#[test]
fn output_is_deterministic() {
    for (kind, src) in [(Kind::Dot, DOT), (Kind::Ascii, BOB), (Kind::Mermaid, FLOW)] {
        let a = render_raw(kind, src).unwrap();
        for _ in 0..3 {
            assert_eq!(render_raw(kind, src).unwrap(), a, "{kind:?}");
        }
    }
}

#[test]
fn renderer_errors_and_panics_become_messages() {
    let e = render_raw(Kind::Dot, "digraph { a -> {b c} }").unwrap_err();
    assert!(e.starts_with("DOT:"), "{e}");
    // layout-rs panics on an empty record label; that must not take the build down.
    let e = render_raw(
        Kind::Dot,
        "digraph { a [shape=record, label=\"\"]; a -> b; }",
    )
    .unwrap_err();
    assert!(e.starts_with("the renderer failed on this input"), "{e}");
    let e = render_raw(Kind::Dot, "digraph { }").unwrap_err();
    assert!(e.contains("no nodes"), "{e}");
    let e = render_raw(Kind::Mermaid, "flowchart LR\n  A --> \n  ((( \n").unwrap_err();
    assert!(e.starts_with("Mermaid:"), "{e}");
    let e = render(
        Kind::Mermaid,
        "not a diagram at all",
        "x",
        "x",
        Path::new("content/p.md"),
        12,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("content/p.md:12: the Mermaid diagram cannot be drawn"),
        "{e}"
    );
}

#[test]
fn sizes_are_capped() {
    let big = "x".repeat(Kind::Dot.max_source_bytes() + 1);
    assert!(
        render_raw(Kind::Dot, &big)
            .unwrap_err()
            .contains("limited to")
    );
    let tall = "-\n".repeat(MAX_ASCII_LINES + 1);
    assert!(
        render_raw(Kind::Ascii, &tall)
            .unwrap_err()
            .contains("lines by")
    );
    let dense =
        "+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-\n"
            .repeat(60);
    assert!(
        render_raw(Kind::Ascii, &dense)
            .unwrap_err()
            .contains("drawn characters")
    );
    assert!(
        render_raw(Kind::Ascii, "  \n ")
            .unwrap_err()
            .contains("empty")
    );
}

#[test]
fn fence_attributes() {
    let a =
        parse_fence_attributes(r#"title="CDN flow" caption='A miss, then hits.' id="cdn-flow""#)
            .unwrap();
    assert_eq!(a.title.as_deref(), Some("CDN flow"));
    assert_eq!(a.caption.as_deref(), Some("A miss, then hits."));
    assert_eq!(a.id.as_deref(), Some("cdn-flow"));
    assert!(
        parse_fence_attributes("colour=\"red\"")
            .unwrap_err()
            .contains("unknown attribute")
    );
    assert!(
        parse_fence_attributes("title=CDN")
            .unwrap_err()
            .contains("quoted")
    );
    assert!(
        parse_fence_attributes("title=\"open")
            .unwrap_err()
            .contains("not closed")
    );
    assert!(valid_id("cdn-flow-2") && !valid_id("CDN") && !valid_id("") && !valid_id("-a"));
    assert_eq!(
        default_id(Some("Cache-aside, step by step"), "p", 1),
        "cache-aside-step-by-step"
    );
    assert_eq!(
        default_id(None, "caching-etag", 2),
        "caching-etag-diagram-2"
    );
    assert_eq!(page_slug("/caching/etag/"), "caching-etag");
    assert_eq!(page_slug("/"), "home");
}
