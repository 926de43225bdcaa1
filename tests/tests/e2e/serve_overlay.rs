//! End-to-end: `bake serve` shows a failed build's error over the open pages (as Zola and
//! Vite do), in headless Chromium, under the site's own Content-Security-Policy; the next
//! good build reloads them and the error is gone.

use std::time::Duration;

use bake_tests::{Browser, demo_site, repo_root};
use serde_json::json;

/// The overlay's parts as the page has them, or null when there is none.
const OVERLAY: &str = r#"
    const host = document.getElementById("bake-build-error");
    if (!host) return null;
    const box = host.shadowRoot.querySelector("[role=alertdialog]");
    return {
        title: box.querySelector("h2").textContent,
        error: box.querySelector("pre").textContent,
        position: getComputedStyle(box).position,
        focused: host.shadowRoot.activeElement && host.shadowRoot.activeElement.textContent,
    };"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_shows_over_the_open_pages_until_the_fix() {
    let site = demo_site();
    // Watching the demo's sources, serving its built copy; a rebuild (none is expected)
    // would run /bin/false and fail, never this test binary.
    let server = bake::serve::start(bake::serve::ServeOptions {
        config: repo_root().join("bake.toml"),
        out: Some(site.to_path_buf()),
        port: 0,
        build: false,
        watch: true,
        bake_exe: Some("/bin/false".into()),
        ..Default::default()
    })
    .expect("bake serve starts");
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;

    b.client.goto(&format!("{base}/caching/")).await.unwrap();
    b.wait_for("document.readyState === 'complete' && 1", 20)
        .await;
    assert_eq!(
        b.eval(OVERLAY).await.unwrap(),
        json!(null),
        "no error, no overlay"
    );
    b.eval("window.sameDocument = true; return 1")
        .await
        .unwrap();

    let error = "error: content/caching/a.md:3: front matter: `date` is not a date\n  help: write date = 2024-05-01";
    server.show_build_error(error);
    let shown = b.wait_for(&format!("(() => {{ {OVERLAY} }})()"), 20).await;
    assert_eq!(
        shown,
        json!({
            "title": "bake serve: the last build failed",
            "error": error,
            // Styled despite the site's CSP (no 'unsafe-inline'): the CSSOM is allowed.
            "position": "fixed",
            "focused": "Close",
        })
    );
    // Escape closes it.
    b.eval(r#"document.getElementById("bake-build-error").shadowRoot.querySelector("[role=alertdialog]").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })); return 1"#)
        .await
        .unwrap();
    assert_eq!(b.eval(OVERLAY).await.unwrap(), json!(null));

    // A page opened while the last build has failed shows it as it connects; Close closes.
    b.client.goto(&format!("{base}/cdn/")).await.unwrap();
    let shown = b
        .wait_for(&format!("(() => {{ {OVERLAY} }})()?.error"), 20)
        .await;
    assert_eq!(shown, json!(error));
    b.eval(r#"document.getElementById("bake-build-error").shadowRoot.querySelector("button").click(); return 1"#)
        .await
        .unwrap();
    assert_eq!(b.eval(OVERLAY).await.unwrap(), json!(null));

    // A good build: the page reloads (a new document) and shows no error.
    server.show_build_error(error);
    b.wait_for(&format!("(() => {{ {OVERLAY} }})() && 1"), 20)
        .await;
    b.eval("window.sameDocument = true; return 1")
        .await
        .unwrap();
    server.reload();
    b.wait_for(
        "window.sameDocument === undefined && document.readyState === 'complete' && 1",
        20,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.eval(OVERLAY).await.unwrap(), json!(null));
    assert_eq!(server.build_error(), None);
    b.close().await;
}
