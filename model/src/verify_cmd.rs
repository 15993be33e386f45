//! `tidekv verify FILE`: check a recorded history with the `checks` properties.

use serde_json::json;
use std::io::BufReader;
use std::time::Instant;
use tidekv::history::{read_jsonl, History, Outcome};
use tidekv_checks::{self as checks, Verdict};

/// Arguments of `tidekv verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A history written by `tidekv run --history FILE` (JSON lines, values as integers).
    pub file: std::path::PathBuf,
    /// Print one JSON object: {"operations": n, "properties": {...}, ...}.
    #[arg(long)]
    pub json: bool,
}

/// The verdicts on one history, with the first explanation per violation.
pub struct Verification {
    pub operations: usize,
    pub verdicts: Vec<(&'static str, Verdict, Option<String>)>,
}

/// Checks a history: `linearizable`, `no-lost-writes` (no read misses an
/// acknowledged write) and `available` (no `Unavailable` answer). `converged`
/// and `latency` need the cluster and the topology, which a history does not
/// carry: they are `n/a` here.
pub fn verify(history: &History<u64>) -> Verification {
    let v = |r: Result<(), String>| match r {
        Ok(()) => (Verdict::Holds, None),
        Err(e) => (Verdict::Violated, Some(e)),
    };
    let (lin, lin_why) = v(checks::linearizable(history));
    let (nlw, nlw_why) = v(checks::no_stale_reads(history));
    let unavailable = history
        .ops
        .iter()
        .find(|o| o.ret.is_some() && o.outcome() == Outcome::Info);
    let (avail, avail_why) = match unavailable {
        None => (Verdict::Holds, None),
        Some(o) => (
            Verdict::Violated,
            Some(format!("{} was answered unavailable", checks::describe(o))),
        ),
    };
    Verification {
        operations: history.ops.len(),
        verdicts: vec![
            (checks::LINEARIZABLE, lin, lin_why),
            (checks::CONVERGED, Verdict::NotApplicable, None),
            (checks::NO_LOST_WRITES, nlw, nlw_why),
            (checks::LATENCY, Verdict::NotApplicable, None),
            (checks::AVAILABLE, avail, avail_why),
        ],
    }
}

/// Runs `verify`; exit 0 when linearizable and no-lost-writes hold, 1 when
/// either is violated, 2 when the file cannot be read.
pub fn main(args: VerifyArgs) -> u8 {
    let file = match std::fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return 2;
        }
    };
    let start = Instant::now();
    let history: History<u64> = match read_jsonl(BufReader::new(file)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return 2;
        }
    };
    let result = verify(&history);
    let seconds = start.elapsed().as_secs_f64();
    let bad = result
        .verdicts
        .iter()
        .any(|(p, v, _)| *v == Verdict::Violated && (*p == checks::LINEARIZABLE || *p == checks::NO_LOST_WRITES));
    if args.json {
        let props: serde_json::Map<String, serde_json::Value> = result
            .verdicts
            .iter()
            .map(|(p, v, _)| (p.to_string(), json!(v.word())))
            .collect();
        let why: serde_json::Map<String, serde_json::Value> = result
            .verdicts
            .iter()
            .filter_map(|(p, _, w)| w.as_ref().map(|w| (p.to_string(), json!(w))))
            .collect();
        println!(
            "{}",
            json!({"operations": result.operations, "properties": props, "violations": why,
                   "seconds": (seconds * 1000.0).round() / 1000.0})
        );
    } else {
        println!(
            "{}: {} operations, checked in {:.2}s",
            args.file.display(),
            result.operations,
            seconds
        );
        for (p, v, why) in &result.verdicts {
            match why {
                Some(w) => println!("  {p:<16} {v}: {w}"),
                None => println!("  {p:<16} {v}"),
            }
        }
    }
    u8::from(bad)
}
