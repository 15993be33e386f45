//! The `tidekv` command: check, explore, run, node, verify.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;
use tidekv_model::cli::{
    check as check_cmd, compare as compare_cmd, explore as explore_cmd, run as run_cmd, verify as verify_cmd,
};

mod bench;
use bench::cmd as bench_cmd;

/// tidekv: a key-value store for logically synchronous networks (bittide),
/// model-checked with stateright and run for real from the same node logic.
#[derive(Parser, Debug)]
#[command(name = "tidekv", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exhaustively model-check one configuration, or (without --topology) the default suite.
    Check(check_cmd::CheckArgs),
    /// Open the stateright Explorer web UI on one configuration.
    Explore(explore_cmd::ExploreArgs),
    /// Execute the implementation: in process, or as one OS process per node over loopback UDP.
    Run(run_cmd::RunArgs),
    /// Run one node of a multi-process cluster (started by `tidekv run --transport udp`).
    Node(run_cmd::NodeArgs),
    /// Check a recorded history (from `tidekv run --history FILE`) for linearizability and lost writes.
    Verify(verify_cmd::VerifyArgs),
    /// Measure the runtime and the checker against their baselines (ratios; --json for scripts).
    Bench(bench_cmd::BenchArgs),
    /// Every replication protocol side by side on one configuration: verdicts per crash budget and
    /// mode, latency, per-replica load, bytes per link, ops/s.
    Compare(compare_cmd::CompareArgs),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let code = match cli.command {
        Command::Check(args) => check_cmd::main(args),
        Command::Explore(args) => explore_cmd::main(args),
        Command::Run(args) => run_cmd::run_main(args),
        Command::Node(args) => run_cmd::node_main(args),
        Command::Verify(args) => verify_cmd::main(args),
        Command::Bench(args) => bench_cmd::main(args),
        Command::Compare(args) => compare_cmd::main(args),
    };
    ExitCode::from(code)
}

/// `tidekv verify F | head` should stop quietly when `head` exits, as other
/// command-line tools do: Rust ignores SIGPIPE, so a write to the closed
/// pipe would fail and `println!` would panic. The default action ends the
/// process without a word instead.
#[cfg(unix)]
fn restore_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: installing the default disposition for SIGPIPE before any
    // thread starts; no handler code runs.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}

/// Help and version go to stdout with exit 0; anything else is a usage error:
/// one line on stderr, exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        });
    }
    // clap's message may continue on indented lines before a blank line
    // and the usage: fold that first paragraph into one line.
    let text = e.render().to_string();
    let first = text.split("\n\n").next().unwrap_or("error: bad arguments");
    let line = first.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("{line} (see --help)");
    ExitCode::from(2)
}

// The checker allocates and frees a state per transition; mimalloc is
// markedly faster at that than the system allocator (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
