//! `tidekv explore` over HTTP on loopback: it starts the exhaustive run by
//! itself, reports verdicts and counterexample paths on `/.status`, serves
//! the steps along a path with readable actions, states and a timing diagram,
//! and opens the counterexamples `tidekv check` prints.

mod explorer_util;

use explorer_util::{free_port, Explorer, SEED_RACE};
use serde_json::Value as Json;
use std::process::Command;

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
    assert!(page.contains("Stateright Explorer"), "{page}");

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
    let steps = ex.steps(&converged);
    let actions: Vec<&str> = steps.iter().map(|s| s["action"].as_str().expect("an action")).collect();
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

    // Each step: the state as text, and the diagram of the path so far.
    let last = &steps[2];
    let outcome = last["outcome"].as_str().expect("a described state");
    assert!(outcome.starts_with("replicated C=2 S=1 R=2 seed"), "{outcome}");
    assert!(outcome.contains("cycle 3 "), "{outcome}");
    assert!(outcome.contains("VIOLATED here:\n  converged: shard 0:"), "{outcome}");
    assert!(outcome.contains("r0.0→r0.1: [1] Put(k0,"), "{outcome}");
    for step in &steps {
        let svg = step["svg"].as_str().expect("every step has a diagram");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        for lane in ["c0", "c1", "fe", "r0.0", "r0.1"] {
            assert!(svg.contains(&format!(">{lane}</text>")), "lane {lane}: {svg}");
        }
    }
    let svg = last["svg"].as_str().unwrap();
    assert!(
        svg.contains("tidekv-arrow-peer") && svg.contains("converged violated: shard 0"),
        "{svg}"
    );
    assert!(!steps[0]["svg"].as_str().unwrap().contains("violated"));

    // The terminal names the same counterexample.
    let line = ex.wait_for_line(|l| l.contains("counterexample: ") && l.contains(&format!("#/steps/{converged}")));
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/#/steps/{converged}")),
        "{line}"
    );

    // A path that does not exist is a 404, not a crash.
    let (code, _) = ex.get("/.states/0/99999");
    assert_eq!(code, 404);
    assert_eq!(ex.get("/.status").0, 200, "still serving");
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
        let steps = ex.steps(path);
        let got: Vec<&str> = steps.iter().map(|s| s["action"].as_str().unwrap()).collect();
        assert_eq!(got, want, "{url}");
        let outcome = steps.last().unwrap()["outcome"].as_str().unwrap();
        let property = c["property"].as_str().unwrap();
        assert!(
            outcome.contains(&format!("VIOLATED here:")) && outcome.contains(&format!("  {property}: ")),
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
