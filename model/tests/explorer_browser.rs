//! The Explorer page in headless Chromium: it shows the configuration, the
//! verdicts, and the timing diagram of the `seed` race, and the screenshot in
//! docs/EXPLORING.md (docs/img/explorer.png) is taken here.
//!
//! Without Chromium (Debian package `chromium`; `.ci/install-browser`) the
//! test is skipped with a message, unless `TIDEKV_REQUIRE_BROWSER` is set,
//! as CI sets it: then it fails. `TIDEKV_CHROMIUM` names another binary.

mod explorer_util;
#[path = "explorer_util/png.rs"]
mod png;

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

fn chromium_or_skip() -> Option<PathBuf> {
    let chrome = chromium();
    if chrome.is_none() {
        if std::env::var_os("TIDEKV_REQUIRE_BROWSER").is_some() {
            panic!("TIDEKV_REQUIRE_BROWSER is set but no chromium was found (run .ci/install-browser)");
        }
        eprintln!("SKIPPED explorer browser test: no chromium (install with .ci/install-browser)");
    }
    chrome
}

fn profile_dir(tag: &str) -> PathBuf {
    let profile = std::env::temp_dir().join(format!("tidekv-explorer-chromium-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    profile
}

/// The page's DOM after its scripts ran on `url`.
fn dom(chrome: &Path, profile: &Path, url: &str, deadline: Instant) -> String {
    let out = headless(chrome, profile, &["--dump-dom"], url, deadline);
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn explorer_page_shows_configuration_verdicts_and_diagram() {
    let Some(chrome) = chromium_or_skip() else {
        return;
    };
    // Port 0: explore picks a free port and prints it.
    let mut ex = Explorer::start(SEED_RACE, "127.0.0.1:0");
    let status = ex.wait_done();
    let converged = Explorer::discovery(&status, "converged").expect("converged is violated");
    let fingerprint = status["config"]["fingerprint"].as_str().unwrap().to_string();
    ex.wait_for_line(|l| l.contains("counterexample: "));
    let url = format!("http://{}/#/steps/{converged}?cfg={fingerprint}", ex.addr);
    let deadline = ex.started + DEADLINE + Duration::from_secs(90);
    let profile = profile_dir("page");

    let page = dom(&chrome, &profile, &url, deadline);
    for want in [
        // The configuration in the title and the header.
        "<title>tidekv Explorer: replicated C=2 S=1 R=2 seed K=1 V=2 O=2 H=10 ops=get,put</title>",
        "<span id=\"config-label\">replicated C=2 S=1 R=2 seed K=1 V=2 O=2 H=10 ops=get,put</span>",
        // The verdicts, without anyone pressing "Run to completion"; the
        // crash twins cannot happen without crashes.
        "⚠️ violated</b> <a href=\"#/steps/0/14/2/0?cfg=",
        "always converged</a>",
        "✅ holds</b> <span class=\"font-code\">always no-lost-writes</span>",
        "not applicable</b> <span class=\"font-code\">sometimes reached: an operation answered after a crash</span> (cannot happen in this configuration)",
        // The path, numbered by cycle, and the diagram of its last state.
        "initial state",
        "<span class=\"cycle\">cycle 1: </span>no requests; c0→r0.",
        "<svg",
        "class=\"tidekv-timing\"",
        "class=\"tidekv-lanes\"",
        ">r0.1</text>",
        "converged violated: shard 0",
        "VIOLATED here:",
        // Loaded: the indicator is hidden, and no problem is reported.
        "<div id=\"loading\" class=\"loading\" hidden=\"\">",
        "<div id=\"problem\" class=\"problem\" hidden=\"\"></div>",
        "<div id=\"warning\" class=\"warning\" hidden=\"\"></div>",
    ] {
        assert!(page.contains(want), "the page lacks {want:?}:\n{page}");
    }

    // A path that leads nowhere says why, instead of "No state selected".
    for (path, why) in [
        (
            "0/999",
            "Cannot open this address: cycle 0 has 16 next actions (0 to 15); the path asks for action 999",
        ),
        ("abc", "Cannot open this address: \"abc\" is not an action index"),
        ("0/0/0/0/0/0/0/0/0/0/0/0/0", "the model stops at cycle 10 (--cycles 10)"),
    ] {
        let page = dom(
            &chrome,
            &profile,
            &format!("http://{}/#/steps/{path}", ex.addr),
            deadline,
        );
        assert!(page.contains(why), "{path}: the page lacks {why:?}:\n{page}");
    }
    // A link made for other flags warns.
    let foreign = dom(
        &chrome,
        &profile,
        &format!("http://{}/#/steps/{converged}?cfg=0badf00d", ex.addr),
        deadline,
    );
    assert!(
        foreign.contains("This link was made for another configuration (fingerprint 0badf00d)"),
        "{foreign}"
    );

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img/explorer.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let image = screenshot(&chrome, &profile, &url, &shot, deadline);
    assert_eq!((image.width, image.height), (1400, 1000));
    assert_eq!(lane_name_rows(&image).len(), 5, "five lane names in the screenshot");
    let _ = std::fs::remove_dir_all(&profile);
}

/// A screenshot of `url`, written to `shot` and decoded.
fn screenshot(chrome: &Path, profile: &Path, url: &str, shot: &Path, deadline: Instant) -> png::Image {
    let out = headless(
        chrome,
        profile,
        &[&format!("--screenshot={}", shot.display())],
        url,
        deadline,
    );
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    png::decode(&std::fs::read(shot).expect("the screenshot was written"))
}

/// The rows of the screenshot where a lane name's background shows (the
/// diagram's `C_LANE_NAME_BG`, used nowhere else), each with the leftmost
/// and rightmost x where it shows.
fn lane_name_rows(image: &png::Image) -> Vec<(usize, usize, usize)> {
    let want = [0x23, 0x47, 0x6e];
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for y in 0..image.height {
        let xs: Vec<usize> = (0..image.width).filter(|&x| image.at(x, y) == want).collect();
        if xs.len() < 6 {
            continue;
        }
        let (lo, hi) = (xs[0], xs[xs.len() - 1]);
        match rows.last_mut() {
            // Consecutive pixel rows are one lane's chip.
            Some(r) if y <= r.0 + 2 => *r = (y, r.1.min(lo), r.2.max(hi)),
            _ => rows.push((y, lo, hi)),
        }
    }
    rows
}

/// Issue 22, item 3: in a 1400-px window a long path scrolls sideways to
/// its newest cycle, and the lane names stay at the left edge of the
/// diagram (before, they scrolled away with it).
#[test]
fn lane_names_stay_in_view_when_the_diagram_scrolls() {
    let Some(chrome) = chromium_or_skip() else {
        return;
    };
    let ex = Explorer::start(
        &[
            "--topology",
            "sharded",
            "--ops",
            "get,put",
            "--cycles",
            "16",
            "--ops-per-client",
            "1",
        ],
        "127.0.0.1:0",
    );
    let path = vec!["0"; 17].join("/");
    let view = ex.view(&path);
    let svg = view["svg"].as_str().unwrap();
    let width: f64 = svg
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        width * 0.7 > 1100.0,
        "the diagram ({width} px) must not fit in the panel, even scaled"
    );
    let deadline = ex.started + DEADLINE + Duration::from_secs(60);
    let profile = profile_dir("scroll");
    let shot = std::env::temp_dir().join(format!("tidekv-explorer-scroll-{}.png", std::process::id()));
    let url = format!("http://{}/#/steps/{path}", ex.addr);
    let image = screenshot(&chrome, &profile, &url, &shot, deadline);
    let _ = std::fs::remove_file(&shot);
    let _ = std::fs::remove_dir_all(&profile);
    let rows = lane_name_rows(&image);
    // Lanes: c0, c1, fe, s0, s1.
    assert_eq!(rows.len(), 5, "lane names in view: {rows:?}");
    for (y, lo, hi) in rows {
        assert!(
            lo > 300 && hi < 420,
            "lane name at y={y} spans x={lo}..{hi}: not at the panel's left edge"
        );
    }
}
