//! `tidekv verify FILE`: check a recorded history with the `checks` properties.

use serde_json::json;
use std::io::BufReader;
use std::time::Instant;
use tidekv::history::{read_jsonl_ids, History, HistoryError, Renamed};
use tidekv::node::OpResult;
use tidekv_checks::{self as checks, Property, Verdict};

/// Exit codes of `tidekv verify`, as `--help` states them.
pub const EXIT_CODES: &str = "Exit status:
  0  linearizable and no-lost-writes hold
  1  a property is violated (linearizable or no-lost-writes)
  2  usage error, or the file cannot be read: a bad line (named), or no operation at all
  3  nothing violated, but a check did not finish (verdict \"unknown\"; raise --max-configs or --timeout)";

/// Arguments of `tidekv verify`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct VerifyArgs {
    /// A history written by `tidekv run --history FILE` (JSON lines, values as integers).
    pub file: std::path::PathBuf,
    /// Print one JSON object: {"operations": n, "properties": {...}, ...}.
    #[arg(long)]
    pub json: bool,
    /// Bound on the linearizability search: (linearized set, value) pairs
    /// remembered per key, about 200 bytes each. Past it, `linearizable` is
    /// "unknown" (exit 3) rather than a verdict.
    #[arg(long, default_value_t = checks::wgl::CONFIGS_MAX, value_parser = max_configs)]
    pub max_configs: usize,
    /// Give up the linearizability search after this many seconds: the keys
    /// not decided by then are "unknown" (exit 3). No limit by default.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Check stale-reads: no read returns a value superseded (by an
    /// acknowledged write) more than T cycles before it was invoked; a
    /// violation exits 1. Without it, stale-reads is n/a.
    #[arg(long, value_name = "T")]
    pub max_staleness: Option<u32>,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number of seconds, got {s:?}")),
    }
}

fn max_configs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s:?}")),
    }
}

/// The verdicts on one history, with the first explanation per violation
/// (or, for an `unknown` verdict, where the check gave up).
pub struct Verification {
    pub operations: usize,
    pub verdicts: Vec<(&'static str, Verdict, Option<String>)>,
}

impl Verification {
    /// The exit status: 1 if `linearizable` or `no-lost-writes` is violated,
    /// else 3 if one is unknown, else 0.
    pub fn exit_code(&self) -> u8 {
        let gating = |v: Verdict| {
            self.verdicts.iter().any(|(p, w, _)| {
                *w == v
                    && [Property::Linearizable, Property::NoLostWrites, Property::StaleReads]
                        .map(Property::name)
                        .contains(p)
            })
        };
        if gating(Verdict::Violated) {
            1
        } else if gating(Verdict::Unknown) {
            3
        } else {
            0
        }
    }
}

/// Checks a history: `linearizable`, `no-lost-writes` (no read misses an
/// acknowledged write) and `available` (no `Unavailable` answer). `converged`
/// and `latency` need the cluster and the topology, which a history does not
/// carry: they are `n/a` here. `linearizable` is `unknown` when its search
/// needs more than `bound.configs` configurations on a key, or runs past
/// `bound.deadline`.
pub fn verify(history: &History<u64>, bound: checks::wgl::Bound) -> Verification {
    verify_with(history, bound, None)
}

/// [`verify`], checking `stale-reads` with bound `max_staleness` when given.
pub fn verify_with(history: &History<u64>, bound: checks::wgl::Bound, max_staleness: Option<u32>) -> Verification {
    let v = |r: Result<(), String>| match r {
        Ok(()) => (Verdict::Holds, None),
        Err(e) => (Verdict::Violated, Some(e)),
    };
    let (lin, lin_why) = match checks::wgl::linearizability_bounded(history, bound) {
        Ok(()) => (Verdict::Holds, None),
        Err(checks::NotLinearizable::Violated(why)) => (Verdict::Violated, Some(why)),
        Err(checks::NotLinearizable::Unknown(why)) => (Verdict::Unknown, Some(why)),
    };
    let (nlw, nlw_why) = v(checks::no_stale_reads(history));
    let unavailable = history
        .ops
        .iter()
        .find(|o| o.ret.as_ref().is_some_and(|r| r.result == OpResult::Unavailable));
    let (avail, avail_why) = match unavailable {
        None => (Verdict::Holds, None),
        Some(o) => (
            Verdict::Violated,
            Some(format!("{} was answered unavailable", checks::describe(o))),
        ),
    };
    let mut found = [(lin, lin_why), (nlw, nlw_why), (avail, avail_why)].into_iter();
    let verdicts = Property::ALL
        .into_iter()
        .map(|p| {
            let (v, why) = match p {
                Property::Linearizable | Property::NoLostWrites | Property::Available => {
                    found.next().expect("one result per history property, in table order")
                }
                // A history has no store states: nothing to compare replicas by.
                Property::Converged | Property::Latency | Property::Converges | Property::Rejoins | Property::Fifo => {
                    (Verdict::NotApplicable, None)
                }
                Property::StaleReads => match max_staleness {
                    None => (Verdict::NotApplicable, None),
                    Some(t) => v(checks::stale_reads(history, t)),
                },
            };
            (p.name(), v, why)
        })
        .collect();
    Verification {
        operations: history.ops.len(),
        verdicts,
    }
}

/// What the reader renamed to fit the file in a history, as notes for the
/// reader of the verdicts.
fn notes(renamed: &Renamed) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &renamed.processes {
        out.push(format!(
            "process ids renumbered c0..c{} in order of first appearance (some id is 65535 or more)",
            p.len() - 1
        ));
    }
    if let Some(k) = &renamed.keys {
        out.push(format!(
            "keys renumbered k0..k{} in order of first appearance (some key is 2^32 or more)",
            k.len() - 1
        ));
    }
    if let Some(b) = renamed.cycle_base {
        out.push(format!(
            "cycles counted from the first, {b} (some cycle is 2^32 or more)"
        ));
    }
    out
}

/// Runs `verify`; the exit status is [`Verification::exit_code`], or 2 when
/// the file cannot be read or holds no operation (see [`EXIT_CODES`]).
pub fn main(args: VerifyArgs) -> u8 {
    let file = match std::fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return 2;
        }
    };
    let start = Instant::now();
    let read: Result<(History<u64>, Renamed), HistoryError> = read_jsonl_ids(BufReader::new(file));
    let (history, renamed) = match read {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return 2;
        }
    };
    let bound = checks::wgl::Bound {
        configs: args.max_configs,
        deadline: args.timeout.map(|t| start + std::time::Duration::from_secs_f64(t)),
    };
    let result = verify_with(&history, bound, args.max_staleness);
    let seconds = start.elapsed().as_secs_f64();
    let notes = notes(&renamed);
    if args.json {
        let props: serde_json::Map<String, serde_json::Value> = result
            .verdicts
            .iter()
            .map(|(p, v, _)| (p.to_string(), json!(v.word())))
            .collect();
        let why: serde_json::Map<String, serde_json::Value> = result
            .verdicts
            .iter()
            .filter(|(_, v, _)| *v == Verdict::Violated)
            .filter_map(|(p, _, w)| w.as_ref().map(|w| (p.to_string(), json!(w))))
            .collect();
        let undecided: serde_json::Map<String, serde_json::Value> = result
            .verdicts
            .iter()
            .filter(|(_, v, _)| *v == Verdict::Unknown)
            .filter_map(|(p, _, w)| w.as_ref().map(|w| (p.to_string(), json!(w))))
            .collect();
        println!(
            "{}",
            json!({"operations": result.operations, "properties": props, "violations": why,
                   "unknown": undecided, "notes": notes,
                   "seconds": (seconds * 1000.0).round() / 1000.0})
        );
    } else {
        println!(
            "{}: {} operations, checked in {:.2}s",
            args.file.display(),
            result.operations,
            seconds
        );
        for n in &notes {
            println!("  note: {n}");
        }
        for (p, v, why) in &result.verdicts {
            match why {
                Some(w) => println!("  {p:<16} {v}: {w}"),
                None => println!("  {p:<16} {v}"),
            }
        }
    }
    result.exit_code()
}
