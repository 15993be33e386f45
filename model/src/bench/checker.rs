//! The checker half of `tidekv bench`: the model checker's figures next to
//! their baselines, measured in one process and one run, so that each ratio
//! compares runs made under the same load (these machines are shared).
//!
//! - `dfs_vs_bfs_states_per_s`, `threads2_vs_1`: unique states per second of
//!   the depth-first search against breadth-first and against one thread, on
//!   fixed suite configurations searched exhaustively.
//! - `symmetry_reduction`, `client_reduction`, `clients_x_replicas_reduction`,
//!   `value_reduction`, `all_reductions`: unique states without any
//!   reduction ÷ with replica symmetry, with the client reduction, with
//!   both, with value symmetry alone, and with all three (what `check` runs
//!   by default), on 3 clients × 3 replicas, each searched exhaustively
//!   (verdicts compared).
//! - `checker_vs_paxos`: unique states per second of the default replicated
//!   configuration (`tidekv check --topology replicated`), which is too big
//!   to finish here and so runs for a fixed time, ÷ those of stateright's own
//!   `paxos check 3` example ([`crate::bench::paxos`], vendored), searched
//!   exhaustively breadth-first as the example does; and, like for like, ÷
//!   the example searched depth-first for the same time on the same threads.

use crate::bench::paxos::{self, PaxosRun};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tidekv::node::Protocol;
use tidekv::topology::Kind;
use tidekv_model::checker::runner::{check_bounded, Bound, Report, RunOptions};
use tidekv_model::model::{CrashMode, ModelConfig, OpKind, Reduction};

/// What [`checker_bench`] runs.
#[derive(Clone, Debug)]
pub struct CheckerBenchOptions {
    /// Threads of every run but the one-thread side of `threads2_vs_1`.
    /// Time-bounded runs need 2 or more (stateright's timeout); with 1, they
    /// are bounded by `bounded_states` instead.
    pub threads: usize,
    /// Length of the bounded runs: the default replicated configuration and
    /// the like-for-like paxos run.
    pub bounded_seconds: f64,
    /// Generated states of the bounded runs when `threads` is 1.
    pub bounded_states: usize,
    /// Clients of the paxos example: `paxos check 3`.
    pub paxos_clients: usize,
    /// Rounds of the paxos comparison (tidekv, paxos breadth-first, paxos
    /// depth-first, alternating); each figure is the median round's.
    pub paxos_repeats: usize,
    /// Tiny configurations throughout (a few seconds in all): for tests.
    pub tiny: bool,
}

impl Default for CheckerBenchOptions {
    fn default() -> Self {
        CheckerBenchOptions {
            threads: 2,
            bounded_seconds: 10.0,
            bounded_states: 2_000_000,
            paxos_clients: 3,
            paxos_repeats: 3,
            tiny: false,
        }
    }
}

/// One run of a checker.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub configuration: String,
    /// The `tidekv check` flags that repeat it (the paxos example's command
    /// line for paxos runs).
    pub command: String,
    /// `dfs` or `bfs`.
    pub search: &'static str,
    pub threads: usize,
    /// The reductions: `none`, `replicas`, `clients`, `clients × replicas`,
    /// `values`, `clients × replicas × values`.
    pub reduction: String,
    pub unique_states: usize,
    /// Generated states (stateright's `state_count`).
    pub states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    pub unique_states_per_s: f64,
    /// The bound the run had (`"10 s"`, `"2000000 generated states"`), or
    /// none for a run meant to be exhaustive.
    pub bound: Option<String>,
    /// Whether the search stopped at its bound, not at the end of the state
    /// space: the counts then cover part of it.
    pub cut: bool,
    /// Per property: `holds`, `violated`, `n/a`, as far as the search went.
    pub verdicts: BTreeMap<String, String>,
}

/// Depth-first against breadth-first and against one thread, on one
/// configuration, each searched exhaustively.
#[derive(Clone, Debug, Serialize)]
pub struct SearchComparison {
    pub configuration: String,
    /// Depth-first, `threads` threads (what `tidekv check` runs).
    pub dfs: Run,
    /// Breadth-first, `threads` threads (`--bfs`).
    pub bfs: Run,
    /// Depth-first, one thread.
    pub dfs_1_thread: Run,
    /// `dfs` ÷ `bfs` unique states per second.
    pub dfs_vs_bfs_states_per_s: f64,
    /// `dfs` ÷ `dfs_1_thread` unique states per second (named for the
    /// default of 2 threads).
    pub threads2_vs_1: f64,
    /// Whether the three runs agree on states and verdicts.
    pub consistent: bool,
}

/// The same configuration without a reduction, with replica symmetry, with
/// the client reduction, and with both, each exhaustive.
#[derive(Clone, Debug, Serialize)]
pub struct SymmetryComparison {
    pub configuration: String,
    pub without: Run,
    /// Replica symmetry alone (what `--symmetry` did before the client
    /// reduction).
    pub with: Run,
    pub clients: Run,
    pub clients_x_replicas: Run,
    /// Value symmetry alone.
    pub values: Run,
    /// Every reduction: clients × replicas × values, and the horizon.
    pub all: Run,
    /// `without` ÷ `with` unique states.
    pub symmetry_reduction: f64,
    /// `without` ÷ `clients` unique states.
    pub client_reduction: f64,
    /// `without` ÷ `clients_x_replicas` unique states.
    pub clients_x_replicas_reduction: f64,
    /// `without` ÷ `values` unique states.
    pub value_reduction: f64,
    /// `without` ÷ `all` unique states.
    pub all_reductions: f64,
    /// `without` ÷ `with` seconds.
    pub speedup: f64,
    /// `without` ÷ `clients_x_replicas` seconds.
    pub clients_x_replicas_speedup: f64,
    /// `without` ÷ `all` seconds.
    pub all_speedup: f64,
    /// `clients_x_replicas` ÷ `all` seconds: what value symmetry adds.
    pub values_speedup: f64,
    /// All six runs give the same verdicts.
    pub same_verdicts: bool,
    /// What the reduction covers.
    pub note: &'static str,
}

/// The default replicated configuration against stateright's paxos example.
#[derive(Clone, Debug, Serialize)]
pub struct PaxosComparison {
    /// `tidekv check --topology replicated` (defaults), depth-first, cut
    /// after `bounded_seconds`.
    pub tidekv: Run,
    /// The example's own `paxos check 3`: breadth-first, exhaustive.
    pub paxos_bfs: Run,
    /// The example, depth-first like `tidekv check`, cut after the same time.
    pub paxos_dfs: Run,
    /// `tidekv` ÷ `paxos_bfs` unique states per second.
    pub checker_vs_paxos: f64,
    /// `tidekv` ÷ `paxos_dfs` unique states per second.
    pub checker_vs_paxos_like_for_like: f64,
    /// Unique states per second of every round, in run order: the three
    /// runs above are the median rounds of each.
    pub rounds: Vec<[f64; 3]>,
    pub method: String,
}

/// Everything [`checker_bench`] measured; the ratios first, then the runs
/// behind them.
#[derive(Clone, Debug, Serialize)]
pub struct CheckerBench {
    pub threads: usize,
    /// From `searches[0]`.
    pub dfs_vs_bfs_states_per_s: f64,
    /// From `searches[0]`.
    pub threads2_vs_1: f64,
    pub symmetry_reduction: f64,
    pub client_reduction: f64,
    pub clients_x_replicas_reduction: f64,
    pub value_reduction: f64,
    pub all_reductions: f64,
    pub checker_vs_paxos: f64,
    pub checker_vs_paxos_like_for_like: f64,
    pub searches: Vec<SearchComparison>,
    pub symmetry: SymmetryComparison,
    pub paxos: PaxosComparison,
    /// Wall time of the whole checker bench.
    pub seconds: f64,
}

fn get_put(kind: Kind, f: impl FnOnce(&mut ModelConfig)) -> ModelConfig {
    let mut c = ModelConfig::new(kind);
    c.ops = vec![OpKind::Get, OpKind::Put];
    f(&mut c);
    c.cycles = c.ops_per_client * c.topology.latency_cycles() + 2;
    c
}

/// The configurations of the depth-first/breadth-first/threads comparison:
/// two of the default suite's (the first is the one PERFORMANCE.md measured
/// breadth-first against depth-first).
pub fn search_configs(tiny: bool) -> Vec<ModelConfig> {
    if tiny {
        return vec![get_put(Kind::Replicated, |c| {
            c.topology.replicas = 2;
            c.ops_per_client = 1;
        })];
    }
    vec![
        get_put(Kind::Replicated, |c| {
            c.topology.protocol = Protocol::Fanout;
            c.crashes = 2;
            c.crash_mode = CrashMode::MidSend;
        }),
        get_put(Kind::Sharded, |c| c.keys = 2),
    ]
}

/// The configuration of `symmetry_reduction`: 3 clients × 3 replicas
/// (fanout), one operation each, up to 2 mid-send crashes.
pub fn symmetry_config(tiny: bool) -> ModelConfig {
    get_put(Kind::Replicated, |c| {
        c.topology.clients = 3;
        c.topology.replicas = 3;
        c.topology.protocol = Protocol::Fanout;
        c.ops_per_client = 1;
        c.crashes = if tiny { 1 } else { 2 };
        c.crash_mode = if tiny { CrashMode::Atomic } else { CrashMode::MidSend };
    })
}

/// `tidekv check --topology replicated` with every default (the tiny
/// version: one operation per client).
pub fn default_replicated(tiny: bool) -> ModelConfig {
    let args = tidekv_model::cli::args::ModelArgs {
        ops_per_client: tiny.then_some(1),
        ..Default::default()
    };
    args.to_config(Kind::Replicated).expect("the defaults are valid")
}

fn per_s(unique: usize, seconds: f64) -> f64 {
    unique as f64 / seconds.max(1e-9)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn bound_label(bound: Option<Bound>) -> Option<String> {
    bound.map(|b| match b {
        Bound::Seconds(s) => format!("{s} s"),
        Bound::States(n) => format!("{n} generated states"),
    })
}

fn tidekv_run(config: &ModelConfig, threads: usize, bfs: bool, symmetry: Reduction, bound: Option<Bound>) -> Run {
    let opts = RunOptions {
        threads,
        bfs,
        symmetry,
        progress: false,
    };
    let (r, cut): (Report, bool) = check_bounded(config, &opts, bound).expect("the bench's configurations are valid");
    let mut command = format!("tidekv check {} --threads {threads}", config.flags());
    if bfs {
        command += " --bfs";
    }
    if symmetry == Reduction::NONE && !bfs {
        command += " --no-symmetry";
    }
    Run {
        configuration: config.label(),
        command,
        search: if bfs { "bfs" } else { "dfs" },
        threads,
        reduction: symmetry.name(),
        unique_states: r.unique_states,
        states: r.states,
        max_depth: r.max_depth,
        seconds: r.seconds,
        unique_states_per_s: per_s(r.unique_states, r.seconds),
        bound: bound_label(bound),
        cut,
        verdicts: r
            .verdicts
            .iter()
            .map(|(p, v)| (p.name().to_string(), v.word().to_string()))
            .collect(),
    }
}

fn paxos_run(p: PaxosRun, timeout: Option<f64>) -> Run {
    let command = format!(
        "paxos check{} {} (stateright 0.31.0 example, {} servers, {} threads)",
        if p.search == "dfs" { "-dfs" } else { "" },
        p.client_count,
        p.server_count,
        p.threads
    );
    Run {
        configuration: format!("paxos {} clients {} servers", p.client_count, p.server_count),
        command,
        search: p.search,
        threads: p.threads,
        reduction: "none".into(),
        unique_states: p.unique_states,
        states: p.states,
        max_depth: p.max_depth,
        seconds: p.seconds,
        unique_states_per_s: per_s(p.unique_states, p.seconds),
        bound: timeout.map(|s| format!("{s} s")),
        cut: timeout.is_some_and(|s| p.seconds >= s),
        verdicts: [(
            "linearizable".to_string(),
            if p.properties_hold { "holds" } else { "violated" }.to_string(),
        )]
        .into(),
    }
}

/// The run of median speed (unique states per second) of a non-empty list.
fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.unique_states_per_s.total_cmp(&b.unique_states_per_s));
    runs.swap_remove(runs.len() / 2)
}

fn line(r: &Run) -> String {
    format!(
        "{} {} {}t{}: {} unique states, {:.1}s, {:.0}/s{}",
        r.configuration,
        r.search,
        r.threads,
        if r.reduction == "none" {
            String::new()
        } else {
            format!(" reduction {}", r.reduction)
        },
        r.unique_states,
        r.seconds,
        r.unique_states_per_s,
        if r.cut { " (cut)" } else { "" }
    )
}

/// Runs every measurement (about 70 s on 2 busy cores with the defaults;
/// seconds with `tiny`), calling `progress` with a line per run.
pub fn checker_bench(opts: &CheckerBenchOptions, progress: &mut dyn FnMut(&str)) -> CheckerBench {
    let start = Instant::now();
    let threads = opts.threads.max(1);
    let mut report = |r: Run| {
        progress(&line(&r));
        r
    };

    let mut searches = Vec::new();
    for c in search_configs(opts.tiny) {
        let none = Reduction::NONE;
        let dfs = report(tidekv_run(&c, threads, false, none, None));
        let bfs = report(tidekv_run(&c, threads, true, none, None));
        let dfs_1_thread = report(tidekv_run(&c, 1, false, none, None));
        let consistent = [&bfs, &dfs_1_thread]
            .iter()
            .all(|r| r.unique_states == dfs.unique_states && r.verdicts == dfs.verdicts);
        searches.push(SearchComparison {
            configuration: c.label(),
            dfs_vs_bfs_states_per_s: ratio(dfs.unique_states_per_s, bfs.unique_states_per_s),
            threads2_vs_1: ratio(dfs.unique_states_per_s, dfs_1_thread.unique_states_per_s),
            consistent,
            dfs,
            bfs,
            dfs_1_thread,
        });
    }

    let c = symmetry_config(opts.tiny);
    let run = |r: Reduction| tidekv_run(&c, threads, false, r, None);
    let without = report(run(Reduction::NONE));
    let with = report(run(Reduction {
        replicas: true,
        ..Reduction::NONE
    }));
    let clients = report(run(Reduction {
        clients: true,
        ..Reduction::NONE
    }));
    let clients_x_replicas = report(run(Reduction {
        replicas: true,
        clients: true,
        ..Reduction::NONE
    }));
    let values = report(run(Reduction {
        values: true,
        ..Reduction::NONE
    }));
    let all = report(run(Reduction::ALL));
    let reduction = |r: &Run| ratio(without.unique_states as f64, r.unique_states as f64);
    let symmetry = SymmetryComparison {
        configuration: c.label(),
        symmetry_reduction: reduction(&with),
        client_reduction: reduction(&clients),
        clients_x_replicas_reduction: reduction(&clients_x_replicas),
        value_reduction: reduction(&values),
        all_reductions: reduction(&all),
        speedup: ratio(without.seconds, with.seconds),
        clients_x_replicas_speedup: ratio(without.seconds, clients_x_replicas.seconds),
        all_speedup: ratio(without.seconds, all.seconds),
        values_speedup: ratio(clients_x_replicas.seconds, all.seconds),
        same_verdicts: [&with, &clients, &clients_x_replicas, &values, &all]
            .iter()
            .all(|r| r.verdicts == without.verdicts),
        note: "replicas: permutations of a shard's replicas (fanout). clients: not every permutation (servers \
               serve a frame's slots in client order, so racing writes resolve by client number): clients that \
               may still send keep their order, done clients are interchangeable, and sessions nothing can \
               read are dropped. values: permutations of the values (node logic only stores and compares them)",
        without,
        with,
        clients,
        clients_x_replicas,
        values,
        all,
    };

    let bound = if threads >= 2 {
        Bound::Seconds(opts.bounded_seconds)
    } else {
        Bound::States(opts.bounded_states)
    };
    // Like for like: depth-first, same threads, same time. With one thread
    // stateright's timeout does nothing, and the example is small enough to
    // run to the end.
    let timeout = (threads >= 2).then_some(opts.bounded_seconds);
    let (mut tidekv_runs, mut bfs_runs, mut dfs_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..opts.paxos_repeats.max(1) {
        tidekv_runs.push(report(tidekv_run(
            &default_replicated(opts.tiny),
            threads,
            false,
            Reduction::NONE,
            Some(bound),
        )));
        bfs_runs.push(report(paxos_run(
            paxos::check(opts.paxos_clients, threads, true, None),
            None,
        )));
        dfs_runs.push(report(paxos_run(
            paxos::check(opts.paxos_clients, threads, false, timeout.map(Duration::from_secs_f64)),
            timeout,
        )));
    }
    let rounds: Vec<[f64; 3]> = (0..tidekv_runs.len())
        .map(|i| {
            [
                tidekv_runs[i].unique_states_per_s,
                bfs_runs[i].unique_states_per_s,
                dfs_runs[i].unique_states_per_s,
            ]
        })
        .collect();
    let (tidekv, paxos_bfs, paxos_dfs) = (median_run(tidekv_runs), median_run(bfs_runs), median_run(dfs_runs));
    let method = format!(
        "unique states per second. tidekv: `{}` cut by {} (too big to finish here; {}). paxos_bfs: the example's \
         own `paxos check {}` (breadth-first, run to the end). paxos_dfs: the example depth-first for the same \
         bound. Same process, {} threads, the three alternating for {} rounds; each is its median round \
         (`rounds` has every round's unique states per second).",
        tidekv.command,
        tidekv.bound.as_deref().unwrap_or("nothing"),
        if tidekv.cut {
            "it was cut"
        } else {
            "it finished before the bound"
        },
        opts.paxos_clients,
        threads,
        opts.paxos_repeats.max(1)
    );
    let paxos = PaxosComparison {
        checker_vs_paxos: ratio(tidekv.unique_states_per_s, paxos_bfs.unique_states_per_s),
        checker_vs_paxos_like_for_like: ratio(tidekv.unique_states_per_s, paxos_dfs.unique_states_per_s),
        rounds,
        method,
        tidekv,
        paxos_bfs,
        paxos_dfs,
    };

    CheckerBench {
        threads,
        dfs_vs_bfs_states_per_s: searches[0].dfs_vs_bfs_states_per_s,
        threads2_vs_1: searches[0].threads2_vs_1,
        symmetry_reduction: symmetry.symmetry_reduction,
        client_reduction: symmetry.client_reduction,
        clients_x_replicas_reduction: symmetry.clients_x_replicas_reduction,
        value_reduction: symmetry.value_reduction,
        all_reductions: symmetry.all_reductions,
        checker_vs_paxos: paxos.checker_vs_paxos,
        checker_vs_paxos_like_for_like: paxos.checker_vs_paxos_like_for_like,
        searches,
        symmetry,
        paxos,
        seconds: start.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_checker_bench_measures_every_figure() {
        let opts = CheckerBenchOptions {
            threads: 2,
            bounded_seconds: 0.5,
            paxos_clients: 1,
            paxos_repeats: 2,
            tiny: true,
            ..Default::default()
        };
        let mut lines = 0;
        let b = checker_bench(&opts, &mut |_| lines += 1);
        assert_eq!(lines, 3 + 6 + 3 * 2);
        assert_eq!(b.paxos.rounds.len(), 2);
        let s = &b.searches[0];
        assert!(s.consistent, "dfs, bfs and one thread agree: {s:?}");
        assert!(b.symmetry.same_verdicts);
        assert!(b.symmetry.with.unique_states < b.symmetry.without.unique_states);
        assert!(b.symmetry_reduction > 1.0);
        assert!(b.client_reduction > 1.0 && b.clients_x_replicas_reduction > b.symmetry_reduction);
        assert!(b.value_reduction > 1.0 && b.all_reductions > b.clients_x_replicas_reduction);
        assert!(!b.symmetry.with.cut && !b.searches[0].dfs.cut);
        assert!(b.paxos.paxos_bfs.verdicts["linearizable"] == "holds");
        assert!(!b.paxos.paxos_bfs.cut);
        for r in [&b.paxos.tidekv, &b.paxos.paxos_bfs, &b.paxos.paxos_dfs] {
            assert!(r.unique_states > 0 && r.unique_states_per_s > 0.0, "{r:?}");
        }
        assert!(b.checker_vs_paxos > 0.0 && b.threads2_vs_1 > 0.0 && b.dfs_vs_bfs_states_per_s > 0.0);
        let json = serde_json::to_value(&b).expect("serializable");
        for k in [
            "dfs_vs_bfs_states_per_s",
            "threads2_vs_1",
            "symmetry_reduction",
            "checker_vs_paxos",
        ] {
            assert!(json[k].is_f64(), "{k}");
        }
    }

    /// The full bench, printed as JSON: `cargo test --release -p tidekv-model --lib full_checker_bench --
    /// --ignored --nocapture` (until `tidekv bench` runs it).
    #[test]
    #[ignore = "about 70 s; run by hand"]
    fn full_checker_bench() {
        let b = checker_bench(&CheckerBenchOptions::default(), &mut |l| eprintln!("bench: {l}"));
        println!("{}", serde_json::to_string_pretty(&b).expect("serializable"));
    }
}
