//! The Explorer page in headless Chromium: it shows the configuration, the
//! verdicts, and the timing diagram of the `seed` race, and the screenshot in
//! docs/EXPLORING.md (docs/img/explorer.png) is taken here.
//!
//! Without Chromium (Debian package `chromium`; `.ci/install-browser`) the
//! test is skipped with a message, unless `TIDEKV_REQUIRE_BROWSER` is set,
//! as CI sets it: then it fails. `TIDEKV_CHROMIUM` names another binary.

mod explorer_util;

use explorer_util::{Explorer, DEADLINE, SEED_RACE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TIDEKV_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.exists() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` with `extra` flags, killing it if it
/// outlives the deadline.
fn headless(chrome: &Path, profile: &Path, extra: &[&str], url: &str, deadline: Instant) -> Output {
    let child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Containers often give /dev/shm only 64 MB.
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            // Time for the page's scripts to fetch the status and every
            // state along the path.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", chrome.display()));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(out) => out.expect("chromium output"),
        Err(_) => {
            // The child is owned by the waiting thread; end it by its id.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("chromium did not finish within {DEADLINE:?}");
        }
    }
}

#[test]
fn explorer_page_shows_configuration_verdicts_and_diagram() {
    let Some(chrome) = chromium() else {
        if std::env::var_os("TIDEKV_REQUIRE_BROWSER").is_some() {
            panic!("TIDEKV_REQUIRE_BROWSER is set but no chromium was found (run .ci/install-browser)");
        }
        eprintln!("SKIPPED explorer browser test: no chromium (install with .ci/install-browser)");
        return;
    };
    // Port 0: explore picks a free port and prints it.
    let mut ex = Explorer::start(SEED_RACE, "127.0.0.1:0");
    let status = ex.wait_done();
    let converged = Explorer::discovery(&status, "converged").expect("converged is violated");
    ex.wait_for_line(|l| l.contains("counterexample: "));
    let url = format!("http://{}/#/steps/{converged}", ex.addr);
    let deadline = ex.started + DEADLINE + Duration::from_secs(60);

    let profile = std::env::temp_dir().join(format!("tidekv-explorer-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);

    let out = headless(&chrome, &profile, &["--dump-dom"], &url, deadline);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        // The configuration, in the diagram's title and the state text.
        "tidekv replicated C=2 S=1 R=2 seed K=1 V=2 O=2 H=10 ops=get,put",
        // The verdicts, without anyone pressing "Run to completion".
        "Counterexample found",
        "Always converged",
        "Safety holds",
        // The path of actions and the diagram of its last state.
        "no requests; c0→r0.",
        "<svg",
        "class=\"tidekv-timing\"",
        ">r0.1</text>",
        "converged violated: shard 0",
        "VIOLATED here:",
    ] {
        assert!(dom.contains(want), "the page lacks {want:?}:\n{dom}");
    }

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img/explorer.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let out = headless(
        &chrome,
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &url,
        deadline,
    );
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a {}-byte screenshot is blank", png.len());
    let _ = std::fs::remove_dir_all(&profile);
}
