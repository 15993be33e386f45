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
        &["check", "--suite", "full", "--topology", "single"],
        "--suite runs a suite of configurations: give it without --topology",
    );
    assert_usage_error(&["check", "--suite", "huge"], "invalid value 'huge' for '--suite");
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
    assert_usage_error(&["check", "--topology", "single", "--max-states", "0"], "--max-states");
    assert_usage_error(
        &["check", "--topology", "single", "--max-seconds", "1", "--threads", "1"],
        "--max-seconds needs 2 or more --threads",
    );
    assert_usage_error(&["check", "--max-states", "10"], "give --topology");
}

/// A search cut by `--max-states` says so, reports every property it found
/// no violation of as `unknown` (never `holds`) and exits 3; without the
/// bound the same check holds everything and exits 0.
#[test]
fn a_cut_search_is_incomplete_never_holding() {
    let args = ["check", "--topology", "single", "--json"];
    let cut = tidekv(&[&args[..], &["--max-states", "5000"]].concat());
    assert_eq!(cut.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_slice(&cut.stdout).expect("one JSON object");
    assert_eq!(
        (j["exhaustive"].as_bool(), j["cut_by"].as_str()),
        (Some(false), Some("--max-states"))
    );
    for (p, v) in j["properties"].as_object().unwrap() {
        assert!(v == "unknown" || v == "n/a", "{p}: {v}");
    }
    let full = tidekv(&args);
    assert_eq!(full.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&full.stdout).expect("one JSON object");
    assert_eq!(
        (j["exhaustive"].as_bool(), j["properties"]["linearizable"].as_str()),
        (Some(true), Some("holds"))
    );
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
    let out = tidekv(&seed_r2(&["--json", "--threads", "1"]));
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

/// Writes `lines` (JSON values) as a history file in a fresh directory.
fn history_file(name: &str, lines: &[serde_json::Value]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tidekv-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn ev(ty: &str, process: u64, f: &str, key: u64, value: serde_json::Value, cycle: u64) -> serde_json::Value {
    serde_json::json!({"type": ty, "process": process, "f": f, "key": key, "value": value, "cycle": cycle})
}

/// A search that gives up is "unknown" with exit 3, in text and JSON, never
/// "violated"; `--max-configs` raises the bound; `--help` lists the codes.
#[test]
fn verify_says_unknown_when_its_search_gives_up() {
    use serde_json::json;
    // 12 clients put to one key in the same cycles, each of 6 values twice,
    // all acknowledged; then two reads see two of them (not linearizable,
    // but finding that out takes thousands of configurations).
    let mut lines: Vec<_> = (0..12)
        .map(|c| ev("invoke", c, "put", 1, json!(c % 6 + 1), 0))
        .collect();
    lines.extend((0..12).map(|c| ev("ok", c, "put", 1, json!(c % 6 + 1), 4)));
    lines.push(ev("invoke", 0, "get", 1, json!(null), 4));
    lines.push(ev("invoke", 1, "get", 1, json!(null), 4));
    lines.push(ev("ok", 0, "get", 1, json!(3), 8));
    lines.push(ev("ok", 1, "get", 1, json!(5), 8));
    let file = history_file("unknown", &lines);
    let path = file.to_str().unwrap();
    let out = tidekv(&["verify", path, "--max-configs", "100", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["properties"]["linearizable"], "unknown");
    let why = v["unknown"]["linearizable"].as_str().unwrap();
    assert!(why.starts_with("k1: gave up after 100 configurations"), "{why}");
    assert!(why.contains("up to 12 operations concurrent"), "{why}");
    assert!(v["violations"].as_object().unwrap().is_empty(), "{v}");
    let out = tidekv(&["verify", path, "--max-configs", "100"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("linearizable     unknown: k1: gave up"), "{text}");
    assert!(!text.contains("violated"), "{text}");
    let out = tidekv(&["verify", path, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["properties"]["linearizable"], "violated");
    // A time limit already past: unknown, at the time limit.
    let out = tidekv(&["verify", path, "--timeout", "0", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let why = v["unknown"]["linearizable"].as_str().unwrap();
    assert!(
        why.starts_with("k1: gave up at the time limit after 1024 configurations"),
        "{why}"
    );
    assert_usage_error(&["verify", path, "--timeout", "soon"], "--timeout");
    assert_usage_error(&["verify", path, "--max-configs", "0"], "--max-configs");
    let out = tidekv(&["verify", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for code in [
        "0  linearizable",
        "1  a property is violated",
        "2  usage error",
        "3  nothing violated",
    ] {
        assert!(help.contains(code), "{help}");
    }
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

/// The two histories issue 17 names, on which `verify` used to give up,
/// hold: 15 clients each putting a different value to one key in the same
/// cycles, all acknowledged, then a read; one client whose 14 puts are each
/// answered `Unavailable` by the client itself (never sent: written `fail`),
/// then a read of absent. A read of one of the unsent values is a violation.
#[test]
fn verify_decides_the_histories_it_used_to_give_up_on() {
    use serde_json::json;
    let mut lines: Vec<_> = (0..15).map(|c| ev("invoke", c, "put", 1, json!(c + 1), 0)).collect();
    lines.extend((0..15).map(|c| ev("ok", c, "put", 1, json!(c + 1), 4)));
    lines.push(ev("invoke", 3, "get", 1, json!(null), 4));
    lines.push(ev("ok", 3, "get", 1, json!(9), 8));
    let unavailable = |read: serde_json::Value| {
        let mut lines = Vec::new();
        for i in 0..14u64 {
            lines.push(ev("invoke", 0, "put", 1, json!(i + 1), 2 * i));
            let mut done = ev("fail", 0, "put", 1, json!(i + 1), 2 * i);
            done["error"] = json!("unavailable");
            lines.push(done);
        }
        lines.push(ev("invoke", 0, "get", 1, json!(null), 40));
        lines.push(ev("ok", 0, "get", 1, read, 44));
        lines
    };
    let cases = [
        ("puts", lines, 0, "holds"),
        ("unsent", unavailable(json!(null)), 0, "holds"),
        ("unsent-read", unavailable(json!(7)), 1, "violated"),
    ];
    for (name, lines, code, verdict) in cases {
        let file = history_file(name, &lines);
        let out = tidekv(&["verify", file.to_str().unwrap(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["properties"]["linearizable"], verdict, "{name}: {v}");
        std::fs::remove_dir_all(file.parent().unwrap()).ok();
    }
}

/// Bad or inconsistent histories are one-line errors naming the line (exit
/// 2), an empty one says so, and Jepsen-sized numbers keep their identity.
#[test]
fn verify_checks_its_input() {
    use serde_json::json;
    let cases: &[(&str, Vec<serde_json::Value>, &str)] = &[
        ("empty", vec![], "history is empty"),
        (
            "early-return",
            vec![ev("ok", 0, "put", 1, json!(3), 4)],
            "line 1: process 0 completes nothing",
        ),
        (
            "same-cycle",
            vec![
                ev("invoke", 3, "put", 1, json!(3), 4),
                ev("info", 3, "put", 1, json!(3), 4),
                ev("invoke", 3, "get", 1, json!(null), 4),
            ],
            "line 3: process 3 invokes again in cycle 4",
        ),
        (
            "backwards",
            vec![
                ev("invoke", 0, "put", 1, json!(3), 4),
                ev("ok", 0, "put", 1, json!(3), 2),
            ],
            "line 2: cycle 2 goes back from 4",
        ),
    ];
    for (name, lines, needle) in cases {
        let file = history_file(name, lines);
        assert_usage_error(&["verify", file.to_str().unwrap()], needle);
        std::fs::remove_dir_all(file.parent().unwrap()).ok();
    }
    // Key 2^32+1 is not key 1 (it was, cut to 32 bits: the read of absent
    // then looked stale), and process 65537 is not process 1.
    let big = 1u64 << 32;
    let lines = [
        ev("invoke", 1, "put", 1, json!(7), 0),
        ev("ok", 1, "put", 1, json!(7), 4),
        ev("invoke", 65_537, "get", big + 1, json!(null), 4),
        ev("invoke", 1, "get", 1, json!(null), 4),
        ev("ok", 65_537, "get", big + 1, json!(null), 8),
        ev("ok", 1, "get", 1, json!(7), 8),
    ];
    let file = history_file("big", &lines);
    let out = tidekv(&["verify", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["properties"]["linearizable"], "holds", "{v}");
    assert_eq!(v["notes"].as_array().unwrap().len(), 2, "{v}");
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

/// `tidekv node` with standard input closed (no supervisor) exits 3 and
/// says why on one line; it used to exit without a word.
#[test]
fn node_without_a_supervisor_says_why_it_exits() {
    let dir = std::env::temp_dir().join(format!("tidekv-cli-{}-node", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let d = dir.to_str().unwrap();
    let out = tidekv(&[
        "run",
        "--transport",
        "udp",
        "--topology",
        "single",
        "--clients",
        "1",
        "--cycles",
        "5",
        "--run-dir",
        d,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let config = dir.join("cluster.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_tidekv"))
        .args(["node", "--config", config.to_str().unwrap(), "--id", "server"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tidekv node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("standard input closed"), "{stderr:?}");
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

/// `tidekv check --help | head -1`: a reader that goes away early ends the
/// command quietly (SIGPIPE), never with a panic about a broken pipe.
#[test]
fn a_closed_pipe_ends_output_without_a_panic() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidekv"))
        .args(["check", "--topology", "single", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidekv runs");
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().expect("tidekv ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.status.success(), "killed by SIGPIPE: {:?}", out.status);
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let out = tidekv(args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `check` on the seed race (`seed`, R=2, get and put), then `extra`.
fn seed_r2<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = "check --topology replicated --replicas 2 --protocol seed --ops get,put"
        .split(' ')
        .collect();
    args.extend_from_slice(extra);
    args
}

const FANOUT_R2: &[&str] = &[
    "check",
    "--topology",
    "replicated",
    "--replicas",
    "2",
    "--ops",
    "get,put",
];

/// Issue 22, item 5: a twin this configuration cannot reach (no crash is
/// allowed) is "n/a in this configuration", not "NOT reached", and the run
/// exits 0; "NOT reached" is kept for twins whose absence fails the check.
#[test]
fn twins_a_configuration_cannot_reach_are_not_applicable() {
    let out = tidekv(FANOUT_R2);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("NOT reached"), "{text}");
    for twin in [
        "an acknowledged write held after a crash",
        "an operation answered after a crash",
    ] {
        assert!(
            text.contains(&format!("n/a in this configuration ({twin})")),
            "{twin}: {text}"
        );
    }
    assert!(text.contains("reached (a write, then a read of it)"), "{text}");
}

/// Issue 22, item 6: `--json` names generated and unique states apart, and
/// the unique count is the one the text output reports.
#[test]
fn json_names_generated_and_unique_states() {
    let mut args = FANOUT_R2.to_vec();
    args.push("--json");
    let v = json_of(&args);
    assert!(v.get("states").is_none(), "the ambiguous name is gone: {v}");
    let unique = v["unique_states"].as_u64().expect("unique_states");
    let generated = v["states_generated"].as_u64().expect("states_generated");
    assert!(generated > unique, "{v}");
    let text = String::from_utf8_lossy(&tidekv(FANOUT_R2).stdout).to_string();
    assert!(
        text.contains(&format!("checked: {unique} unique states ({generated} generated)")),
        "{text}"
    );
    // Without crashes the crash mode means nothing.
    assert_eq!(v["crash_mode"], "none", "{v}");
}

/// Issue 22, item 7: an `owner` counterexample names the owner of the key
/// whose replica crashes, in the text and in the JSON step.
#[test]
fn owner_counterexamples_name_the_owner() {
    let args = [
        "check",
        "--topology",
        "replicated",
        "--replicas",
        "2",
        "--protocol",
        "owner",
        "--ops",
        "get,put",
        "--crashes",
        "1",
        "--crash-mode",
        "mid-send",
        "--threads",
        "1",
    ];
    let text = String::from_utf8_lossy(&tidekv(&args).stdout).to_string();
    assert!(
        text.contains("cycle 2: no requests; crash r0.0 (mid-send: only r0.0→fe delivered) [r0.0 was the owner of k0]"),
        "{text}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = json_of(&json_args);
    let lost = v["counterexamples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["property"] == "no-lost-writes")
        .expect("no-lost-writes is violated (F3)");
    assert_eq!(lost["steps"][2]["note"], "r0.0 was the owner of k0", "{lost}");
    assert!(
        lost["trace"][2]
            .as_str()
            .unwrap()
            .ends_with("[r0.0 was the owner of k0]"),
        "{lost}"
    );
    // Only the owner's crash gets a note: `fanout` sends writes everywhere.
    let text = String::from_utf8_lossy(
        &tidekv(&[
            "check",
            "--topology",
            "replicated",
            "--replicas",
            "2",
            "--crashes",
            "2",
            "--ops",
            "get,put",
        ])
        .stdout,
    )
    .to_string();
    assert!(text.contains("crash r0.1") && !text.contains("owner of"), "{text}");
}

/// Issue 22, item 8: `fanout` with mid-send crashes says why it explores
/// exactly the atomic states; JSON carries the same note.
#[test]
fn mid_send_that_equals_atomic_says_so() {
    let run = |mode: &str| {
        let mut args = FANOUT_R2.to_vec();
        args.extend(["--crashes", "1", "--crash-mode", mode]);
        let text = String::from_utf8_lossy(&tidekv(&args).stdout).to_string();
        args.push("--json");
        (text, json_of(&args))
    };
    let (atomic_text, atomic) = run("atomic");
    let (mid_text, mid) = run("mid-send");
    assert_eq!(atomic["unique_states"], mid["unique_states"]);
    assert_eq!(mid["crash_mode"], "mid-send");
    assert!(
        mid_text.contains("note: --crash-mode mid-send explores the same states as atomic here"),
        "{mid_text}"
    );
    assert!(mid_text.contains("one output link"), "{mid_text}");
    assert!(
        mid["mid_send_as_atomic"]
            .as_str()
            .is_some_and(|n| n.contains("one output link")),
        "{mid}"
    );
    assert!(!atomic_text.contains("note:"), "{atomic_text}");
    assert!(atomic["mid_send_as_atomic"].is_null(), "{atomic}");
    // With peer links a replica has more than one output: no note.
    let seed = tidekv(&seed_r2(&["--crashes", "1", "--crash-mode", "mid-send"]));
    assert!(!String::from_utf8_lossy(&seed.stdout).contains("note:"));
}

/// Issue 22, item 1: `check --addr` puts explore's address in the links,
/// which carry the configuration's fingerprint; a bad address exits 2.
#[test]
fn check_links_name_the_explorer_address_and_the_configuration() {
    let args = seed_r2(&["--threads", "1", "--addr", "127.0.0.1:3001"]);
    let text = String::from_utf8_lossy(&tidekv(&args).stdout).to_string();
    let links: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("  then open:  ")).collect();
    assert_eq!(links.len(), 2, "{text}");
    let other = seed_r2(&["--threads", "1", "--cycles", "9", "--json"]);
    let fp_other = json_of(&other)["counterexamples"][0]["explore_url"]
        .as_str()
        .unwrap()
        .rsplit_once("?cfg=")
        .unwrap()
        .1
        .to_string();
    for l in &links {
        let (path, fp) = l
            .strip_prefix("http://127.0.0.1:3001/#/steps/0/")
            .and_then(|r| r.split_once("?cfg="))
            .unwrap_or_else(|| panic!("{l}"));
        assert!(path.split('/').all(|i| i.parse::<u32>().is_ok()), "{l}");
        assert_eq!(fp.len(), 8, "{l}");
        assert_ne!(fp, fp_other, "other flags, another fingerprint");
    }
    assert_usage_error(
        &["check", "--topology", "single", "--addr", "nowhere"],
        "--addr must be host:port",
    );
    assert_usage_error(
        &["check", "--topology", "single", "--addr", "127.0.0.1:0"],
        "--addr must be host:port",
    );
}

#[test]
fn bad_quorum_flags_exit_2_naming_the_flag() {
    let q = ["--topology", "replicated", "--replicas", "3", "--protocol", "quorum"];
    let with = |cmd: &str, more: &[&str]| -> Vec<String> {
        std::iter::once(cmd)
            .chain(q)
            .chain(more.iter().copied())
            .map(String::from)
            .collect()
    };
    for cmd in ["check", "run"] {
        let cases: [(&[&str], &str); 4] = [
            (&["--write-quorum", "0"], "--write-quorum must be at least 1, got 0"),
            (
                &["--read-quorum", "4"],
                "--read-quorum must be 1..=3 (the replicas), got 4",
            ),
            (&["--ops", "get,insert"], "supports get, put and delete only"),
            (&["--ops", "modify"], "supports get, put and delete only"),
        ];
        for (more, needle) in cases {
            let args = with(cmd, more);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_usage_error(&args, needle);
        }
    }
    assert_usage_error(
        &[
            "check",
            "--topology",
            "replicated",
            "--protocol",
            "fanout",
            "--read-repair",
        ],
        "apply to --protocol quorum, not fanout",
    );
    assert_usage_error(&["compare", "--protocol", "fanout"], "compare runs every protocol");
    assert_usage_error(&["compare", "--topology", "single"], "--topology replicated");
    assert_usage_error(
        &["compare", "--replicas", "3", "--write-quorum", "4"],
        "--write-quorum must be 1..=3",
    );
}

#[test]
fn compare_prints_every_protocol_and_json_gives_the_same_verdicts() {
    let flags = [
        "compare",
        "--replicas",
        "2",
        "--clients",
        "2",
        "--crashes",
        "1",
        "--run-cycles",
        "200",
        "--quiet",
    ];
    let out = tidekv(&flags);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for p in [
        "seed",
        "owner",
        "fanout",
        "chain",
        "quorum W=2 Q=2",
        "quorum W=2 Q=2 +rr +ae",
        "quorum W=1 Q=2",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{p:<24} F=1 mid-send"))),
            "{p}: {text}"
        );
    }
    let mut json_flags = flags.to_vec();
    json_flags.push("--json");
    let out = tidekv(&json_flags);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let rows = v["protocols"].as_array().expect("protocols");
    assert_eq!(rows.len(), 7);
    // The same verdicts as the text: seed's race diverges replicas at once.
    let seed = &rows[0];
    assert_eq!(seed["label"], "seed");
    let f0 = &seed["checks"][0]["properties"]["converged"];
    assert_eq!(f0["verdict"], "violated");
    assert_eq!(f0["shortest_counterexample_cycles"], 3);
    assert!(text
        .lines()
        .any(|l| l.starts_with("seed                     F=0") && l.contains("VIOLATED (3)")));
    for r in rows {
        let load = r["runtime"]["writes_per_replica_cycle"].as_f64().expect("a load");
        assert!(load > 0.0, "{}: writes reach the replicas", r["label"]);
    }
}

/// Issue 21: the cache's flags are checked, with one line each.
#[test]
fn bad_cache_flags_exit_2_with_one_line() {
    let s = ["check", "--topology", "sharded", "--levels", "2"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { s.iter().chain(extra).copied().collect() };
    assert_usage_error(
        &["check", "--topology", "sharded", "--levels", "1", "--cache", "lease"],
        "--cache needs --levels 2 or more",
    );
    assert_usage_error(&with(&["--cache", "lru"]), "expected naive, lease or update");
    assert_usage_error(
        &with(&["--cache", "naive", "--cache-keys", "0"]),
        "--cache-keys must be 1..=",
    );
    assert_usage_error(
        &with(&["--cache", "naive", "--lease-cycles", "4"]),
        "--lease-cycles applies to --cache lease",
    );
    assert_usage_error(
        &with(&["--cache", "lease", "--lease-cycles", "0"]),
        "--lease-cycles must be at least 1",
    );
    assert_usage_error(&with(&["--cache-keys", "4"]), "need --cache");
    assert_usage_error(
        &with(&["--cache", "naive", "--cache-order", "lifo"]),
        "expected slot or invalidations-first",
    );
    assert_usage_error(
        &["check", "--topology", "single", "--cache", "naive"],
        "--topology single has no front end",
    );
    assert_usage_error(
        &["run", "--topology", "sharded", "--levels", "1", "--cache", "naive"],
        "--cache needs --levels 2",
    );
}

/// Issue 21's "done when": `run --cache lease --distribution zipf:1.1`
/// reports a hit rate and a lower mean read latency than the same run
/// without the cache, and its history passes `verify` with `stale-reads` at
/// T = 0 (the properties docs/CACHING.md says hold); the same run with the
/// stale-set order (C1) fails `verify`.
#[test]
fn a_lease_cache_makes_reads_faster_and_its_history_verifies() {
    let dir = std::env::temp_dir().join(format!("tidekv-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = [
        "run",
        "--topology",
        "sharded",
        "--levels",
        "2",
        "--clients",
        "8",
        "--keys",
        "100",
        "--cycles",
        "5000",
        "--distribution",
        "zipf:1.1",
        "--write-ratio",
        "0.1",
        "--ops",
        "get,put",
        "--quiet",
        "--json",
    ];
    let run = |extra: &[&str], name: &str| {
        let h = dir.join(name);
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let hs = h.display().to_string();
        args.extend_from_slice(&["--history", &hs]);
        (json_of(&args), h)
    };
    let (plain, _) = run(&[], "plain.jsonl");
    let (cached, h) = run(
        &["--cache", "lease", "--cache-keys", "16", "--lease-cycles", "1000"],
        "lease.jsonl",
    );
    assert!(plain["cache"].is_null());
    let rate = cached["cache"]["hit_rate"].as_f64().unwrap();
    assert!(rate > 0.2, "hit rate {rate}");
    let mean = |j: &serde_json::Value| j["reads"]["mean_latency"].as_f64().unwrap();
    assert_eq!(mean(&plain), 6.0, "every read goes to the shard: 2 + 2·2 cycles");
    assert!(mean(&cached) < mean(&plain), "{} vs {}", mean(&cached), mean(&plain));
    assert_eq!(
        cached["cache"]["hits"], cached["reads"]["latency_cycles"]["2"],
        "a hit is a read answered in 2 cycles"
    );
    let hs = h.display().to_string();
    let out = tidekv(&["verify", &hs, "--max-staleness", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stale-reads      holds"), "{text}");
    // C1 at run time: applying invalidations before fills keeps stale sets.
    let (_, bad) = run(
        &[
            "--cache",
            "naive",
            "--cache-keys",
            "16",
            "--cache-order",
            "invalidations-first",
        ],
        "naive.jsonl",
    );
    let bs = bad.display().to_string();
    let out = tidekv(&["verify", &bs, "--max-staleness", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stale-reads      violated"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_measures_the_cache_against_zipf_skew() {
    let out = json_of(&["bench", "--only", "cache", "--cycles", "2000", "--json", "--quiet"]);
    let points = out["cache"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 5, "four skews and uniform");
    let rates: Vec<f64> = points[..4].iter().map(|p| p["hit_rate"].as_f64().unwrap()).collect();
    assert!(rates.windows(2).all(|w| w[0] < w[1]), "more skew, more hits: {rates:?}");
    for p in points {
        assert!(p["ratio"].as_f64().unwrap() < 1.0, "{p}");
        assert_eq!(p["read_latency_uncached"].as_f64().unwrap(), 6.0);
    }
}

/// The issue's own command: `--cache` without `--levels` takes two FE
/// levels (the default topology, replicated R=3, with two level-0 FEs).
#[test]
fn run_cache_lease_zipf_as_the_issue_writes_it() {
    let h = std::env::temp_dir().join(format!("tidekv-cache-issue-{}.jsonl", std::process::id()));
    let hs = h.display().to_string();
    let j = json_of(&[
        "run",
        "--cache",
        "lease",
        "--distribution",
        "zipf:1.1",
        "--cycles",
        "3000",
        "--quiet",
        "--json",
        "--history",
        &hs,
    ]);
    assert!(j["topology"].as_str().unwrap().contains("L=2"), "{}", j["topology"]);
    assert!(j["cache"]["hit_rate"].as_f64().unwrap() > 0.0);
    let mean = j["reads"]["mean_latency"].as_f64().unwrap();
    assert!(mean < 6.0, "a miss takes 6 cycles with two levels: {mean}");
    let out = tidekv(&["verify", &hs, "--max-staleness", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    std::fs::remove_file(&h).ok();
}

/// Issue 19: recovery flags that cannot apply exit 2 naming the flag.
#[test]
fn bad_recovery_flags_exit_2_with_one_line() {
    let r = ["check", "--topology", "replicated", "--replicas", "2", "--crashes", "1"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { r.iter().chain(extra).copied().collect() };
    assert_usage_error(
        &with(&["--recoveries", "1", "--protocol", "seed"]),
        "--recoveries: --protocol seed cannot take a restarted replica back",
    );
    assert_usage_error(
        &with(&["--recoveries", "1", "--protocol", "quorum"]),
        "--recoveries: --protocol quorum cannot take a restarted replica back",
    );
    assert_usage_error(
        &with(&["--persist", "sync"]),
        "--persist and --transfer-keys apply with --recoveries",
    );
    assert_usage_error(
        &with(&["--recoveries", "1", "--persist", "disk"]),
        "expected none, sync or async",
    );
    assert_usage_error(
        &with(&["--recoveries", "1", "--transfer-keys", "0"]),
        "--transfer-keys must be 1..=",
    );
    assert_usage_error(
        &[
            "check",
            "--topology",
            "replicated",
            "--replicas",
            "2",
            "--recoveries",
            "1",
        ],
        "--recoveries restarts crashed servers: give --crashes 1 or more",
    );
    assert_usage_error(
        &["check", "--topology", "sharded", "--crashes", "1", "--recoveries", "1"],
        "use --topology replicated with --replicas 2 or more",
    );
}
