//! `tidekv explore` over HTTP on loopback: it starts the exhaustive run by
//! itself, reports verdicts and counterexample paths on `/.status`, serves
//! the steps along a path with readable actions, states and a timing diagram,
//! and opens the counterexamples `tidekv check` prints.

mod explorer_util;

use explorer_util::{free_port, Explorer, SEED_RACE};
use serde_json::Value as Json;
use std::process::Command;
use std::time::{Duration, Instant};
use tidekv_model::cli::http::http_request;

/// `c0 Put(k0,2), c1 Put(k0,1)` → the values put, per client.
fn puts(action: &str) -> Vec<String> {
    action
        .split(", ")
        .map(|p| {
            p.split_once(" Put(k0,")
                .and_then(|(_, v)| v.strip_suffix(')'))
                .unwrap_or_else(|| panic!("not a put: {p:?} in {action:?}"))
                .to_string()
        })
        .collect()
}

#[test]
fn explore_verdicts_and_the_seed_race_counterexample_over_http() {
    let port = free_port();
    let mut ex = Explorer::start(SEED_RACE, &format!("127.0.0.1:{port}"));
    assert_eq!(ex.addr.port(), port);
    assert!(
        ex.stdout.iter().any(|l| l.contains("replicated C=2 S=1 R=2 seed")),
        "{:?}",
        ex.stdout
    );

    // The web app itself.
    let (code, page) = ex.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("tidekv Explorer"), "{page}");
    // Our copy of stateright's page keeps its license notice.
    assert!(page.contains("Copyright (c) 2018 Jonathan Nadal"), "{page}");
    assert!(ex.get("/LICENSE-stateright").1.starts_with("MIT License"));
    // A loading indicator, shown while a state is fetched.
    assert!(page.contains("id=\"loading\""), "{page}");

    // Nobody pressed "Run to completion": explore asked for it.
    let status = ex.wait_done();
    assert!(status["unique_state_count"].as_u64().unwrap() > 1000, "{status}");
    for holds in ["no-lost-writes", "latency", "available"] {
        assert_eq!(Explorer::discovery(&status, holds), None, "{holds}: {status}");
    }
    assert!(Explorer::discovery(&status, "linearizable").is_some(), "{status}");
    let converged = Explorer::discovery(&status, "converged").expect("converged is violated");

    // The counterexample is the 3-cycle race: both clients put different
    // values in cycle 0, the FE sends them to different replicas in cycle
    // 1, each replica serves its own in cycle 2 and sends it to the other.
    let view = ex.view(&converged);
    let actions: Vec<&str> = view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().expect("an action"))
        .collect();
    let cycles: Vec<u64> = view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cycle"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, [0, 1, 2], "path lines are numbered by cycle");
    assert_eq!(actions.len(), 3, "{actions:?}");
    let values = puts(actions[0]);
    assert!(
        actions[0].starts_with("c0 Put(k0,") && actions[0].contains(", c1 Put(k0,"),
        "{actions:?}"
    );
    assert_ne!(values[0], values[1], "{actions:?}");
    let picks = actions[1]
        .strip_prefix("no requests; ")
        .expect("cycle 1 picks replicas");
    let replicas: Vec<&str> = picks.split(", ").map(|p| &p[p.len() - 4..]).collect();
    assert!(picks.starts_with("c0→r0.") && picks.contains(", c1→r0."), "{actions:?}");
    assert_ne!(replicas[0], replicas[1], "{actions:?}");
    assert_eq!(actions[2], "no requests");

    // The selected state: its text, the diagram of the path to it, and
    // the reason of each violation, in the text and as JSON. `converged`
    // says what each replica holds now and what it will hold.
    let outcome = view["outcome"].as_str().expect("a described state");
    assert!(outcome.starts_with("replicated C=2 S=1 R=2 seed"), "{outcome}");
    assert!(outcome.contains("cycle 3 "), "{outcome}");
    assert!(outcome.contains("r0.0→r0.1: [1] Put(k0,"), "{outcome}");
    let reason = view["violations"][0]["reason"].as_str().unwrap();
    assert_eq!(view["violations"][0]["property"], "converged");
    assert!(
        reason.starts_with("shard 0: r0.0 holds {k0=")
            && reason.contains("} now; once the updates in flight apply, r0.0 will hold {k0="),
        "{reason}"
    );
    assert!(
        outcome.contains(&format!("VIOLATED here:\n  converged: {reason}\n")),
        "{outcome}"
    );
    let svg = view["svg"].as_str().expect("a diagram");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    for lane in ["c0", "c1", "fe", "r0.0", "r0.1"] {
        assert!(svg.contains(&format!(">{lane}</text>")), "lane {lane}: {svg}");
    }
    assert!(
        svg.contains("tidekv-arrow-peer") && svg.contains("converged violated: shard 0"),
        "{svg}"
    );
    // Only the selected state is built: its next actions are names.
    let next = &view["next"];
    assert_eq!(next["total"], 1, "{next}");
    assert_eq!(
        next["steps"][0],
        serde_json::json!({"action": "no requests", "actionIndex": 0})
    );

    // linearizable's reason is the checks' own, not a pointer to the diagram.
    let lin = Explorer::discovery(&status, "linearizable").unwrap();
    let lview = ex.view(&lin);
    let lin_reason = lview["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["property"] == "linearizable")
        .expect("linearizable is violated there")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(lin_reason.contains("cannot be linearized"), "{lin_reason}");
    assert!(lview["outcome"]
        .as_str()
        .unwrap()
        .contains(&format!("  linearizable: {lin_reason}")));

    // The initial state reads like any other.
    let init = ex.view("0");
    let text = init["outcome"].as_str().unwrap();
    assert!(
        text.starts_with("replicated C=2 S=1 R=2 seed") && text.contains("nodes:\n  c0"),
        "{text}"
    );
    assert!(init["svg"].as_str().unwrap().contains(">t=0</text>"));
    assert_eq!(init["next"]["total"], 16);

    // The terminal names the same counterexample, on this port, with the
    // configuration's fingerprint.
    let fingerprint = status["config"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(init["config"]["fingerprint"], fingerprint.as_str());
    let line = ex.wait_for_line(|l| l.contains("counterexample: ") && l.contains(&format!("#/steps/{converged}?")));
    assert!(
        line.contains(&format!(
            "http://127.0.0.1:{port}/#/steps/{converged}?cfg={fingerprint}"
        )),
        "{line}"
    );

    // Paths that lead nowhere say why; the server keeps serving.
    for (path, code, why) in [
        (
            "/.states/0/999",
            404,
            "cycle 0 has 16 next actions (0 to 15); the path asks for action 999",
        ),
        ("/.states/abc", 400, "\"abc\" is not an action index"),
        ("/.states/0/abc", 400, "\"abc\" is not an action index"),
        (
            "/.states/0/0/0/0/0/0/0/0/0/0/0/0/0",
            404,
            "the model stops at cycle 10 (--cycles 10)",
        ),
        ("/.states/7", 404, "there is one initial state, 0"),
    ] {
        let (got, body) = ex.get(path);
        assert_eq!(got, code, "{path}: {body}");
        let err: Json = serde_json::from_str(&body).expect("a JSON error");
        assert!(err["error"].as_str().unwrap().contains(why), "{path}: {body}");
    }
    assert_eq!(ex.get("/.status").0, 200, "still serving");
}

/// Without replicas `converged` is n/a, and without crashes the crash
/// twins are not applicable (not "not reached"): the page shows what
/// `/.status` says.
#[test]
fn status_says_n_a_and_not_applicable_where_a_configuration_cannot_say_more() {
    let ex = Explorer::start(
        &["--topology", "single", "--ops", "get,put", "--cycles", "5"],
        "127.0.0.1:0",
    );
    let status = ex.wait_done();
    let verdict = |name: &str| {
        status["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {status}"))["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("converged"), "n/a");
    assert_eq!(verdict("linearizable"), "holds");
    assert_eq!(
        verdict("reached: an acknowledged write held after a crash"),
        "not applicable"
    );
    assert_eq!(
        verdict("reached: an operation answered after a crash"),
        "not applicable"
    );
    assert_eq!(verdict("reached: an operation completes"), "reached");
    // The page's title and header carry the configuration (filled in by
    // app.js from this field).
    assert_eq!(status["config"]["label"], "single C=2 K=1 V=2 O=2 H=5 ops=get,put");
    let (_, js) = ex.get("/app.js");
    assert!(
        js.contains("document.title = `tidekv Explorer: ${config.label}`"),
        "{js}"
    );
}

/// Issue 22, item 2: on `--clients 4 --replicas 3` the initial state has
/// 6,561 next actions. Stateright's Explorer answered `/.states/0` with
/// all of them in full (147 MB, 3 minutes) and nothing else meanwhile;
/// here the answer is a page of names, and `/.status` answers within a
/// second while several large pages are being built and the check runs.
#[test]
fn a_large_configuration_pages_its_next_actions_and_stays_responsive() {
    let ex = Explorer::start(
        &["--topology", "replicated", "--clients", "4", "--replicas", "3"],
        "127.0.0.1:0",
    );
    let addr = ex.addr;
    // Several of the largest pages at once, from other threads.
    let builders: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let path = format!("/.states/0?offset={}&limit=1000", 1000 * i);
                http_request(addr, "GET", &path, Duration::from_secs(120))
            })
        })
        .collect();
    for _ in 0..5 {
        let start = Instant::now();
        let (code, _) = http_request(addr, "GET", "/.status", Duration::from_secs(30)).expect("/.status");
        let took = start.elapsed();
        assert_eq!(code, 200);
        assert!(
            took < Duration::from_secs(1),
            "/.status took {took:?} while states were being built"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for b in builders {
        let (code, body) = b.join().unwrap().expect("a large page");
        assert_eq!(code, 200);
        let v: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["next"]["steps"].as_array().unwrap().len(), 1000);
    }
    let (code, body) = ex.get("/.states/0");
    assert_eq!(code, 200);
    assert!(body.len() < 1_000_000, "{} bytes", body.len());
    let v: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(v["next"]["total"], 6561);
    assert_eq!(v["next"]["steps"].as_array().unwrap().len(), 100, "one page by default");
    let last = ex.get_json("/.states/0?offset=6500&limit=1000");
    assert_eq!(last["next"]["steps"].as_array().unwrap().len(), 61);
    assert_eq!(last["next"]["steps"][60]["actionIndex"], 6560);
}

#[test]
fn check_counterexample_urls_open_the_same_steps_in_the_explorer() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidekv"))
        .arg("check")
        .args(SEED_RACE)
        .args(["--json", "--threads", "1"])
        .output()
        .expect("run tidekv check");
    let report: Json = serde_json::from_slice(&out.stdout).expect("check --json");
    let cexes = report["counterexamples"].as_array().expect("counterexamples");
    assert_eq!(cexes.len(), 2, "{report}");

    let ex = Explorer::start(SEED_RACE, &format!("127.0.0.1:{}", free_port()));
    for c in cexes {
        let url = c["explore_url"].as_str().expect("explore_url");
        let path = url
            .strip_prefix("http://127.0.0.1:3000/#/steps/")
            .and_then(|p| p.split_once("?cfg=").map(|(p, _)| p))
            .unwrap_or_else(|| panic!("{url}: on explore's default address, with the fingerprint"));
        let want: Vec<String> = c["trace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().split_once(": ").unwrap().1.to_string())
            .collect();
        let got = ex.actions(path);
        assert_eq!(got, want, "{url}");
        let view = ex.view(path);
        let outcome = view["outcome"].as_str().unwrap();
        let property = c["property"].as_str().unwrap();
        assert!(
            outcome.contains("VIOLATED here:") && outcome.contains(&format!("  {property}: ")),
            "{outcome}"
        );
    }
}

#[test]
fn explore_usage_errors_exit_2_and_a_busy_port_exits_1() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tidekv"))
            .arg("explore")
            .args(args)
            .output()
            .expect("run tidekv explore")
    };
    for (args, needle) in [
        (&[][..], "--topology"),
        (&["--replicas", "2"][..], "--topology"),
        (&["--topology", "replicated", "--replicas", "0"][..], "--replicas"),
        (&["--topology", "single", "--addr", "nowhere"][..], "--addr"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = run(&["--topology", "single", "--addr", &addr]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}
