//! `tidekv check`: one configuration, or the default suite.

use crate::checker::expect;
use crate::checker::runner::{self, Bound, Report, RunOptions};
use crate::checker::suite;
use crate::cli::args::ModelArgs;
use crate::model::Reduction;
use crate::view::link::DEFAULT_ADDR;
use std::time::Instant;
use tidekv_checks::{Property, Verdict};

/// Arguments of `tidekv check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Checker threads [default: the number of cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object per configuration instead of tables
    /// (`unique_states`: distinct states, the count the tables report;
    /// `states_generated`: every state generated, repeats included).
    #[arg(long)]
    pub json: bool,
    /// Search breadth-first instead of depth-first (same verdicts and minimal
    /// counterexamples; much more memory).
    #[arg(long)]
    pub bfs: bool,
    /// Insist on replica symmetry (an error where the replicas are not
    /// interchangeable). Without it the check still uses every reduction
    /// that is sound for the configuration: one state per permutation of a
    /// shard's replicas (fanout), clients renamed keeping the order of
    /// those that may still send, with sessions nothing can read dropped,
    /// one state per permutation of the values (2 or 3 values), and no
    /// operation started behind an FE in the last cycle (nor, without
    /// caches or queues, the one before) (docs/PERFORMANCE.md). Same
    /// verdicts and counterexamples, fewer states: on a violation the
    /// check searches again without reductions for the path it prints.
    #[arg(long, conflicts_with = "no_symmetry")]
    pub symmetry: bool,
    /// Turn every state reduction off (see --symmetry).
    #[arg(long)]
    pub no_symmetry: bool,
    /// Stop after about this many generated states; verdicts not found
    /// violated are then `unknown`, never `holds` (exit 3). A violation a
    /// cut search finds is printed from that (reduced) search: not searched
    /// again without reductions, so not necessarily minimal.
    #[arg(long, value_name = "N")]
    pub max_states: Option<usize>,
    /// Stop after about this many seconds (2 or more threads); verdicts not
    /// found violated are then `unknown`, never `holds` (exit 3).
    #[arg(long, value_name = "S")]
    pub max_seconds: Option<f64>,
    /// Instead of the exhaustive search, run this many seeded random walks of
    /// --cycles cycles (for configurations too big to check exhaustively).
    #[arg(long, value_name = "WALKS")]
    pub simulate: Option<u64>,
    /// Seed of --simulate; the same seed and flags replay the same walks
    /// [default: drawn from the clock, and printed].
    #[arg(long, requires = "simulate")]
    pub seed: Option<u64>,
    /// Where `tidekv explore` serves the Explorer, host:port: the address in
    /// the counterexamples' `then open:` links (and `explore_url` in --json).
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Without --topology: which suite to run. `default` takes about a
    /// minute on 2 cores; `full` adds larger configurations (docs/RESULTS.md).
    #[arg(long, value_enum, value_name = "SUITE")]
    pub suite: Option<suite::Suite>,
}

/// Checks `--addr` for a link: `host:port` with a non-empty host and a
/// port from 1 to 65535 (no lookup: the host is only printed).
fn link_addr(addr: &str) -> Result<&str, String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(addr),
        _ => Err(format!(
            "--addr must be host:port with a port from 1 to 65535 (e.g. {DEFAULT_ADDR}), got {addr:?}"
        )),
    }
}

fn usage(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    2
}

/// Runs `check`; returns the exit code.
pub fn main(args: CheckArgs) -> u8 {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    let addr = match link_addr(&args.addr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut opts = RunOptions {
        threads,
        bfs: args.bfs,
        symmetry: if args.no_symmetry || args.bfs {
            Reduction::NONE
        } else {
            Reduction::ALL
        },
        progress: true,
    };
    let mut limits = Vec::new();
    match args.max_states {
        Some(0) => return usage("--max-states must be at least 1"),
        Some(n) => limits.push(Bound::States(n)),
        None => {}
    }
    match args.max_seconds {
        Some(s) if !(s > 0.0 && s.is_finite()) => return usage("--max-seconds must be a positive number"),
        Some(s) => limits.push(Bound::Seconds(s)),
        None => {}
    }
    if !limits.is_empty() && (args.model.topology.is_none() || args.simulate.is_some()) {
        return usage("--max-states and --max-seconds bound one exhaustive check: give --topology, not --simulate");
    }
    if args.suite.is_some() && args.model.topology.is_some() {
        return usage("--suite runs a suite of configurations: give it without --topology");
    }
    match args.model.topology {
        Some(kind) => {
            let cfg = match args.model.to_config(kind) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            opts.symmetry = opts.symmetry.within(&cfg);
            if args.symmetry {
                if args.bfs {
                    return usage("--symmetry works depth-first: drop --bfs");
                }
                opts.symmetry.replicas = true;
            }
            let result = match args.simulate {
                None => runner::check_limited(&cfg, &opts, &limits),
                Some(0) => {
                    eprintln!("error: --simulate must be at least 1");
                    return 2;
                }
                Some(runs) => {
                    let seed = args.seed.unwrap_or_else(|| {
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(1, |d| d.as_nanos() as u64)
                    });
                    // Logged first, so that any run can be replayed.
                    eprintln!("simulation seed {seed} ({runs} walks); replay with --simulate {runs} --seed {seed}");
                    crate::checker::simulate::simulate(
                        &cfg,
                        &crate::checker::simulate::SimOptions {
                            runs,
                            seed,
                            progress: true,
                        },
                    )
                }
            };
            let mut report = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            };
            report.retarget_links(addr);
            if args.json {
                println!("{}", report.to_json());
            } else {
                print_one(&report);
            }
            let bad = report
                .verdicts
                .iter()
                .any(|(p, v)| *v == Verdict::Violated && expect::expected(&cfg, p).0 == Verdict::Holds);
            let vacuous = report.simulated.is_none() && !report.unreached_twins().is_empty();
            match (bad, report.cut) {
                (true, _) => 1,
                (false, Some(_)) => 3,
                (false, None) => u8::from(vacuous),
            }
        }
        None => {
            if args.model.any_given() || args.simulate.is_some() {
                eprintln!("error: model flags need --topology (without it, check runs the default suite)");
                return 2;
            }
            run_suite(args.suite.unwrap_or(suite::Suite::Default), &opts, args.json)
        }
    }
}

fn run_suite(which: suite::Suite, opts: &RunOptions, json: bool) -> u8 {
    let configs = which.configs();
    let start = Instant::now();
    let mut reports = Vec::new();
    if !json {
        println!(
            "{} suite: {} configurations, {} threads",
            which.name(),
            configs.len(),
            opts.threads
        );
        println!();
        print_header();
    }
    for cfg in &configs {
        let report = runner::search(cfg, &suite::run_options(cfg, opts)).expect("suite configurations are valid");
        if json {
            println!("{}", report.to_json());
        } else {
            print_row(&report);
        }
        reports.push(report);
    }
    let bad: Vec<&Report> = reports
        .iter()
        .filter(|r| !r.surprises().is_empty() || !r.unreached_twins().is_empty())
        .collect();
    if !json {
        println!();
        println!(
            "cells: the verdict; in parentheses, only where they differ from it: the seed's claim, the finding \
             (docs/RESULTS.md) behind the expected verdict, and `!` for a verdict the project does not expect"
        );
        let states: usize = reports.iter().map(|r| r.unique_states).sum();
        println!(
            "{} configurations, {} unique states, {:.1}s; {}",
            reports.len(),
            states,
            start.elapsed().as_secs_f64(),
            if bad.is_empty() {
                "every verdict as expected".to_string()
            } else {
                format!("{} unexpected", bad.len())
            }
        );
        for r in &bad {
            for p in r.surprises() {
                println!(
                    "  UNEXPECTED {}: {p} {} (expected {})",
                    r.config.label(),
                    r.verdicts[p],
                    expect::expected(&r.config, p).0
                );
            }
            for t in r.unreached_twins() {
                println!("  UNREACHED {}: {t}", r.config.label());
            }
        }
    }
    u8::from(!bad.is_empty())
}

const W_CONFIG: usize = 72;

fn print_header() {
    print!("{:<W_CONFIG$} {:>9} {:>6}", "configuration", "states", "secs");
    for p in Property::ALL {
        print!("  {:<27}", p.name());
    }
    println!();
}

/// A table cell: the verdict, then — only where they differ from it — the
/// seed's claim, the finding behind the expected verdict, and `!` with the
/// expected verdict when the checker disagrees with the project.
fn cell(r: &Report, p: Property) -> String {
    let v = r.verdicts[p];
    let mut s = match v {
        Verdict::Holds => "holds".to_string(),
        Verdict::Violated => "VIOLATED".to_string(),
        Verdict::NotApplicable => "n/a".to_string(),
        Verdict::Unknown => "unknown".to_string(),
    };
    let mut notes = Vec::new();
    let claim = expect::seed_claim(&r.config, p);
    let claimed = match claim {
        expect::Claim::Holds => Some(Verdict::Holds),
        expect::Claim::Violated => Some(Verdict::Violated),
        _ => None,
    };
    if claimed.is_some_and(|c| c != v) {
        notes.push(format!("seed: {}", claim.word()));
    }
    let (exp, finding) = expect::expected(&r.config, p);
    if let Some(f) = finding {
        notes.push(f.to_string());
    }
    if exp != v {
        notes.push(format!("! expected {exp}"));
    }
    if !notes.is_empty() {
        s += &format!(" ({})", notes.join("; "));
    }
    s
}

fn print_row(r: &Report) {
    print!(
        "{:<W_CONFIG$} {:>9} {:>6.1}",
        r.config.label(),
        r.unique_states,
        r.seconds
    );
    for p in Property::ALL {
        print!("  {:<27}", cell(r, p));
    }
    println!();
}

fn print_one(r: &Report) {
    println!("configuration: {}", r.config.label());
    match r.simulated {
        None => println!(
            "checked: {} unique states ({} generated), depth {}, {:.2}s, {} thread(s); {}; reduction: {}",
            r.unique_states,
            r.states,
            r.max_depth,
            r.seconds,
            r.threads,
            match r.cut {
                None => format!("exhaustive within --cycles {}", r.config.cycles),
                Some(b) => format!(
                    "INCOMPLETE: cut by {}, verdicts not found violated are unknown",
                    b.flag()
                ),
            },
            r.reduction.name()
        ),
        Some((walks, seed)) => println!(
            "simulated: {walks} random walks of {} cycles (seed {seed}), {} states ({} distinct), {:.2}s; \
             NOT exhaustive: `holds` means no walk found a violation",
            r.config.cycles, r.states, r.unique_states, r.seconds
        ),
    }
    if let Some((walks, _)) = r.simulated {
        let found: Vec<String> = Property::ALL
            .into_iter()
            .filter(|p| r.walks_violating[*p] > 0)
            .map(|p| format!("{} {}", p.name(), r.walks_violating[p]))
            .collect();
        if !found.is_empty() {
            println!("walks (of {walks}) that reached a violation: {}", found.join(", "));
        }
    }
    println!();
    println!(
        "{:<16} {:<10} {:<10} {:<22} sometimes twin",
        "property", "verdict", "seed claim", "expected"
    );
    for p in Property::ALL {
        let (exp, finding) = expect::expected(&r.config, p);
        let exp_text = match finding {
            Some(f) => format!("{exp} [{f}]"),
            None => exp.to_string(),
        };
        // "NOT reached" only where it fails the check: a twin this
        // configuration cannot reach (no crash allowed, no writes, too
        // few cycles) is not applicable.
        let twin_possible = expect::twin_expected(&r.config, p);
        let twin = if r.verdicts[p] == Verdict::NotApplicable {
            "-".to_string()
        } else if r.twins[p] {
            "reached".to_string()
        } else if twin_possible {
            "NOT reached".to_string()
        } else {
            "n/a in this configuration".to_string()
        };
        let vacuous = !r.twins[p] && twin_possible && r.simulated.is_none();
        let mark = if r.verdicts[p] != exp || vacuous {
            "  <- unexpected"
        } else {
            ""
        };
        let mark = match r.verdicts[p] {
            Verdict::Unknown => "  <- search cut short",
            _ if mark.is_empty() => "",
            _ => mark,
        };
        println!(
            "{:<16} {:<10} {:<10} {:<22} {twin} ({}){mark}",
            p.name(),
            r.verdicts[p].word(),
            expect::seed_claim(&r.config, p).word(),
            exp_text,
            p.twin().trim_start_matches("reached: ")
        );
    }
    if let Some(note) = mid_send_note(r) {
        println!();
        println!("note: {note}");
    }
    for c in &r.counterexamples {
        println!();
        println!(
            "counterexample for {} ({} cycles): {}",
            c.property,
            c.steps.len(),
            c.explanation
        );
        for s in c.annotated_steps() {
            println!("  {s}");
        }
        println!("  history at the end:");
        for h in &c.history {
            println!("    {h}");
        }
        if !c.explore_url.is_empty() {
            println!("  explore it: tidekv explore {}", r.config.flags());
            println!("  then open:  {}", c.explore_url);
        }
    }
}

/// Why `--crash-mode mid-send` gives the atomic state count, when it does.
fn mid_send_note(r: &Report) -> Option<String> {
    crate::model::TideModel::new(r.config.clone())
        .ok()?
        .mid_send_as_atomic()
}
