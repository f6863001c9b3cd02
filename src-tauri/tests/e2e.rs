//! End-to-end: the real built app in a real window (under Xvfb), driven through WebDriver
//! (tauri-driver + WebKitWebDriver), on a throwaway data directory, as a user would: create a
//! prompt, save a second version, view the diff, run a four-model comparison (three demo models
//! and a rate-limited fake OpenAI) and see the cells fill with costs, the back-off and a budget
//! alert, open the log of one call. Screenshots of each
//! screen go to `target/e2e-screenshots/`.
//!
//! Run by `scripts/e2e.sh` (which builds the app and starts tauri-driver under xvfb-run);
//! ignored in a plain `cargo test`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn app_binary() -> PathBuf {
    std::env::var_os("PORTOLAN_E2E_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/portolan-desktop")
        })
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn connect() -> Client {
    let caps = serde_json::json!({
        "tauri:options": { "application": app_binary() },
        "browserName": "wry",
    });
    let caps = caps.as_object().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect("http://127.0.0.1:4444")
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for tauri-driver: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("could not reach tauri-driver on 127.0.0.1:4444: {e}"),
        }
    }
}

fn tid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// Waits (bounded) until the element exists and returns it.
async fn find(c: &Client, id: &str) -> fantoccini::elements::Element {
    let sel = tid(id);
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&sel))
        .await
        .unwrap_or_else(|e| panic!("no element {sel}: {e}"))
}

/// Chooses `value` in a <select>, waiting (bounded) for the option to be loaded.
async fn select(c: &Client, id: &str, value: &str) {
    let sel = format!("{} option[value=\"{value}\"]", tid(id));
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&sel))
        .await
        .unwrap_or_else(|e| panic!("no option {value} in {id}: {e}"));
    find(c, id)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("could not select {value} in {id}: {e}"));
}

async fn scroll_to(c: &Client, id: &str) {
    let script = format!(
        "document.querySelector('{}').scrollIntoView({{block: 'center'}});",
        tid(id).replace('\'', "\\'")
    );
    let _ = c.execute(&script, vec![]).await;
}

async fn wait_text(c: &Client, id: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(el) = c.find(Locator::Css(&tid(id))).await
            && let Ok(text) = el.text().await
            && text.contains(want)
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{id} never showed '{want}'");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves a screenshot of the X display (ImageMagick's `import`). WebKitWebDriver's own
/// screenshot, and requestAnimationFrame with it, stall on pages where nothing repaints (seen
/// here on a static screen under Xvfb), and a stalled command blocks the whole session.
async fn shot(_c: &Client, name: &str) {
    eprintln!("e2e: screenshot {name}");
    // Cosmetic only (no assertion depends on it): let the last change reach the framebuffer.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let path = shots_dir().join(format!("{name}.png"));
    let status = tokio::process::Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .status()
        .await;
    match status {
        Ok(s) if s.success() => {}
        other => panic!("could not take screenshot {name} with ImageMagick's import: {other:?}"),
    }
}

/// Awaits a WebDriver command with a bound, so a stuck page fails the test instead of hanging it.
async fn step<T, E: std::fmt::Debug>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(Duration::from_secs(20), f).await {
        Ok(r) => r.unwrap_or_else(|e| panic!("{what}: {e:?}")),
        Err(_) => panic!("{what}: no answer within 20 s"),
    }
}

async fn type_into_editor(c: &Client, index: usize, text: &str) {
    let editor = find(c, &format!("message-editor-{index}")).await;
    let content = editor
        .find(Locator::Css(".cm-content"))
        .await
        .expect("a CodeMirror editor");
    content.click().await.unwrap();
    // Go to the end of the document, then type.
    content.send_keys("\u{E009}\u{E010}").await.unwrap();
    content.send_keys(text).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the built app, tauri-driver and a display: run scripts/e2e.sh"]
async fn a_user_writes_a_prompt_compares_models_and_reads_the_log() {
    let c = connect().await;
    c.set_window_size(1280, 800).await.ok();

    // The library shows the seeded samples.
    find(&c, "prompt-item-summarize").await;
    shot(&c, "01-prompts").await;

    // Create a prompt and save two versions.
    find(&c, "nav-prompts").await.click().await.unwrap();
    find(&c, "new-prompt").await.click().await.unwrap();
    find(&c, "new-prompt-slug")
        .await
        .send_keys("release-notes")
        .await
        .unwrap();
    find(&c, "create-prompt").await.click().await.unwrap();
    find(&c, "prompt-item-release-notes")
        .await
        .click()
        .await
        .unwrap();
    type_into_editor(&c, 1, " Summarise {{changes}} for users.").await;
    find(&c, "commit-message")
        .await
        .send_keys("Ask for a summary")
        .await
        .unwrap();
    find(&c, "save-version").await.click().await.unwrap();
    wait_text(&c, "save-status", "2").await;
    type_into_editor(&c, 1, " Keep it short.").await;
    let msg = find(&c, "commit-message").await;
    msg.clear().await.ok();
    msg.send_keys("Shorter").await.unwrap();
    find(&c, "save-version").await.click().await.unwrap();
    wait_text(&c, "save-status", "3").await;
    find(&c, "version-item-3").await;
    shot(&c, "02-editor").await;

    // Diff version 2 against 3.
    select(&c, "diff-from", "2").await;
    select(&c, "diff-to", "3").await;
    find(&c, "show-diff").await.click().await.unwrap();
    let diff = find(&c, "diff-view").await;
    diff.find(Locator::Css(".diff-insert"))
        .await
        .expect("an insertion is shown");
    scroll_to(&c, "diff-view").await;
    shot(&c, "03-diff").await;

    // Compare three demo models and gpt-4o-mini (a fake OpenAI on 127.0.0.1 that answers 429
    // three times first, see scripts/e2e.sh); four columns fill with costs.
    find(&c, "nav-compare").await.click().await.unwrap();
    select(&c, "compare-prompt", "summarize").await;
    for m in ["demo/small", "demo/large", "demo/fast", "gpt-4o-mini"] {
        let cb = find(&c, &format!("model-option-{m}")).await;
        if !cb.is_selected().await.unwrap_or(false) {
            cb.click().await.unwrap();
        }
    }
    find(&c, "var-0-text")
        .await
        .send_keys("Portolan keeps prompts on your machine and compares models.")
        .await
        .unwrap();
    find(&c, "run-compare").await.click().await.unwrap();
    wait_text(&c, "compare-status", "done").await;
    for col in 0..4 {
        find(&c, &format!("column-{col}")).await;
        wait_text(&c, &format!("cell-status-0-{col}"), "done").await;
        let cost = wait_text(&c, &format!("cell-cost-0-{col}"), "$").await;
        assert!(cost.contains('$'), "cell 0-{col} cost: {cost}");
        let out = find(&c, &format!("cell-output-0-{col}"))
            .await
            .text()
            .await
            .unwrap();
        let want = if col < 3 {
            "[demo:"
        } else {
            "short benchmark answer"
        };
        assert!(out.contains(want), "cell 0-{col}: {out}");
    }
    // The rate-limited provider's back-off is shown, and its key's budget alert popped up.
    let throttle = find(&c, "throttle-openai").await.text().await.unwrap();
    assert!(throttle.contains("answered 429"), "{throttle}");
    let notice = wait_text(&c, "notice", "Budget alert").await;
    assert!(notice.contains("virtual key 'e2e-openai'"), "{notice}");
    // The run was saved: it is offered under "Recent runs" to reopen.
    let saved = format!("{} option:nth-child(2)", tid("recent-runs"));
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&saved))
        .await
        .expect("the run is listed under Recent runs");
    shot(&c, "04-compare").await;

    // Open the log of one call.
    find(&c, "nav-logs").await.click().await.unwrap();
    find(&c, "log-row-0").await.click().await.unwrap();
    find(&c, "log-detail").await;
    let request = find(&c, "log-request").await.text().await.unwrap();
    assert!(request.contains("messages"), "{request}");
    shot(&c, "05-logs").await;

    eprintln!("e2e: keys");
    step("open keys", find(&c, "nav-keys").await.click()).await;
    find(&c, "key-name").await;
    shot(&c, "06-keys").await;
    eprintln!("e2e: gateway");
    step("open gateway", find(&c, "nav-gateway").await.click()).await;
    find(&c, "gateway-toggle").await;
    shot(&c, "07-gateway").await;

    let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
}
