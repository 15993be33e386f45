//! The `tidekv` command line: exit codes, one-line usage errors, JSON output.

use std::process::{Command, Output};

fn tidekv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidekv"))
        .args(args)
        .output()
        .expect("run tidekv")
}

/// A usage error exits 2 with exactly one line on stderr naming the problem.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = tidekv(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {stderr:?}"
    );
    assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    assert_usage_error(
        &["check", "--topology", "replicated", "--replicas", "0"],
        "--replicas must be 1..=32, got 0",
    );
    assert_usage_error(
        &["check", "--topology", "single", "--clients", "0"],
        "--clients must be",
    );
    assert_usage_error(
        &["check", "--topology", "replicated", "--protocol", "paxos"],
        "unknown protocol \"paxos\": expected one of seed, owner, fanout, chain",
    );
    assert_usage_error(
        &["check", "--topology", "ring"],
        "expected single, sharded or replicated",
    );
    assert_usage_error(
        &["check", "--topology", "single", "--shards", "3"],
        "--topology single has one server",
    );
    assert_usage_error(
        &["check", "--topology", "sharded", "--protocol", "seed"],
        "--protocol applies to",
    );
    assert_usage_error(&["check", "--topology", "single", "--crash-fe"], "no front end");
    assert_usage_error(
        &["check", "--topology", "replicated", "--replicas", "2", "--crashes", "3"],
        "exceeds",
    );
    assert_usage_error(
        &["check", "--topology", "single", "--ops", "get,cas"],
        "expected get, put",
    );
    assert_usage_error(&["check", "--clients", "3"], "need --topology");
    assert_usage_error(&["check", "--bogus"], "--bogus");
    assert_usage_error(&["check", "--topology", "single", "--threads", "0"], "--threads");
    assert_usage_error(&["verify", "/nonexistent/history.jsonl"], "/nonexistent/history.jsonl");
    assert_usage_error(
        &["check", "--topology", "replicated", "--protocol", "seed", "--symmetry"],
        "a protocol whose replicas are interchangeable (fanout)",
    );
    assert_usage_error(&["check", "--topology", "single", "--seed", "3"], "--simulate");
}

#[test]
fn help_exits_0() {
    let out = tidekv(&["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--crash-mode"), "{text}");
}

#[test]
fn check_one_configuration_as_json() {
    let out = tidekv(&[
        "check",
        "--topology",
        "replicated",
        "--replicas",
        "2",
        "--protocol",
        "seed",
        "--ops",
        "get,put",
        "--json",
        "--threads",
        "1",
    ]);
    // The seed protocol's violations are expected (finding F1): exit 0.
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["unique_states"], 48_707);
    assert_eq!(v["properties"]["converged"], "violated");
    assert_eq!(v["seed_claim"]["converged"], "holds");
    assert_eq!(v["expected"]["converged"]["verdict"], "violated");
    assert_eq!(v["expected"]["converged"]["finding"], "F1");
    let cex = v["counterexamples"].as_array().unwrap();
    let conv = cex.iter().find(|c| c["property"] == "converged").unwrap();
    assert_eq!(conv["steps"].as_array().unwrap().len(), 3);
    assert_eq!(conv["steps"][1]["picks"][0]["replica"], "r0.0");
}

#[test]
fn verify_reads_a_history_and_finds_a_stale_read() {
    let dir = std::env::temp_dir().join(format!("tidekv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.jsonl");
    let bad = dir.join("bad.jsonl");
    let lines = |read: &str| {
        format!(
            concat!(
                r#"{{"index":0,"type":"invoke","process":0,"f":"put","key":1,"value":7,"cycle":0,"time":1}}"#,
                "\n",
                r#"{{"index":1,"type":"ok","process":0,"f":"put","key":1,"value":7,"cycle":4,"time":12}}"#,
                "\n",
                r#"{{"index":2,"type":"invoke","process":1,"f":"get","key":1,"value":null,"cycle":4,"time":13}}"#,
                "\n",
                r#"{{"index":3,"type":"ok","process":1,"f":"get","key":1,"value":{},"cycle":8,"time":24}}"#,
                "\n"
            ),
            read
        )
    };
    std::fs::write(&good, lines("7")).unwrap();
    std::fs::write(&bad, lines("null")).unwrap();
    let out = tidekv(&["verify", good.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["operations"], 2);
    assert_eq!(v["properties"]["linearizable"], "holds");
    let out = tidekv(&["verify", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["properties"]["linearizable"], "violated");
    assert_eq!(v["properties"]["no-lost-writes"], "violated");
    std::fs::write(&bad, "{not json\n").unwrap();
    assert_usage_error(&["verify", bad.to_str().unwrap()], "line 1");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_reports_each_ratio_with_its_raw_figures() {
    let out = tidekv(&[
        "bench",
        "--json",
        "--quiet",
        "--only",
        "runtime,udp",
        "--repeats",
        "1",
        "--cycles",
        "300",
        "--clients",
        "4",
        "--keys",
        "10",
        "--udp-cycles",
        "300",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let ratio = j["runtime_vs_hashmap"].as_f64().expect("runtime_vs_hashmap");
    assert!(ratio > 0.0 && ratio.is_finite(), "{j}");
    assert_eq!(j["runtime"]["physical_limit"].as_f64(), Some(0.5));
    assert!(j["runtime"]["ops"].as_u64().unwrap() > 100, "{j}");
    assert!(j["udp_cycles_per_s"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["udp"]["pingpong_hops_per_s"].as_f64().unwrap() > 0.0, "{j}");
    assert_eq!(j["udp"]["processes"].as_u64(), Some(8), "4 clients, 1 FE, 3 replicas");
    assert!(j.get("checker").is_none(), "--only leaves the checker out");
}

#[test]
fn bench_rejects_bad_flags() {
    assert_usage_error(&["bench", "--only", "gpu"], "unknown part \"gpu\"");
    assert_usage_error(&["bench", "--repeats", "0"], "must be at least 1");
    assert_usage_error(&["bench", "--checker-seconds", "0"], "--checker-seconds");
    assert_usage_error(
        &["bench", "--only", "runtime", "--plots", "x"],
        "--plots draws the scaling part",
    );
}
