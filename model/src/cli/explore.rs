//! `tidekv explore`: the stateright Explorer on one configuration.
//!
//! The Explorer is a web page over the model: it starts at the initial state
//! and lists the next steps (one per cycle's choices: the requests clients
//! send, the replica the FE picks, the crashes); a person picks one and reads
//! the state as text ([`crate::view::display::describe_state`]) under a timing
//! diagram of the whole path ([`crate::view::svg`]), which shows every operation
//! and explains every violation. The model is the checker's
//! ([`explorer_model`] says why it does not keep the history in its states).
//!
//! The page and its HTTP API are ours ([`crate::cli::explorer_api`], a
//! reworked copy of stateright's Explorer UI in `model/ui/`), served by a
//! multi-threaded server ([`crate::cli::http`]) over stateright's on-demand
//! checker: stateright's own server answers one request at a time and
//! builds every next step of a state in full, which locked it up on large
//! configurations. The checker's "Run to completion" starts at once, so the
//! page's Properties panel fills with verdicts and links to their
//! counterexamples by itself; the terminal prints them too.
//!
//! # Addresses
//! The Explorer names a state by its path of action indices:
//! `http://ADDR/#/steps/I/A1/A2/…?cfg=F` opens the state reached from
//! initial state `I` by the `A1`-th action, then the `A2`-th, …, in the
//! order `Model::actions` lists them; `F` is the configuration's
//! fingerprint ([`config_fingerprint`]), which the page compares with its
//! own. `GET /.states/I/A1/…` returns that state and a page of its next
//! actions as JSON. [`steps_url`] builds the former; `tidekv check` prints
//! one for each counterexample
//! ([`crate::view::link::counterexample_path`]).

use crate::checker::expect;
use crate::cli::args::ModelArgs;
use crate::cli::explorer_api::{is_heavy, ExplorerApi};
use crate::cli::http::{serve, Handler};
use crate::model::ModelConfig;
use crate::view::link::{config_fingerprint, explorer_model, steps_url, DEFAULT_ADDR};
use serde_json::Value as Json;
use stateright::Model;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tidekv_checks::Property;
use tidekv_checks::Verdict;

/// Arguments of `tidekv explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to serve the Explorer on, host:port (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
}

/// Runs `explore`; returns the exit code. Serves until the process is killed.
pub fn main(args: ExploreArgs) -> u8 {
    let Some(kind) = args.model.topology else {
        eprintln!("error: explore needs --topology single|sharded|replicated");
        return 2;
    };
    let cfg = match args.model.to_config(kind) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let addr = match args.addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => {
            eprintln!(
                "error: --addr must be host:port (e.g. {DEFAULT_ADDR}), got {:?}",
                args.addr
            );
            return 2;
        }
    };
    // Binding here turns "address in use" into a message and resolves
    // port 0 to the port the Explorer will use; the server takes this very
    // socket.
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    let model = match explorer_model(cfg.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };

    println!("tidekv explore: {}", cfg.label());
    println!("  flags: {}", cfg.flags());
    // One checker thread (the builder's default): the run then visits
    // states in a fixed order, so the links are the same on every run, and
    // no thread can overwrite a shorter discovery with a longer one.
    let api = Arc::new(ExplorerApi::new(Box::new(model.checker().spawn_on_demand())));
    // Stateright's Explorer checks nothing until someone presses "Run to
    // completion"; start it now, so the page fills with verdicts by itself.
    api.checker.run_to_completion();
    let status_api = Arc::clone(&api);
    std::thread::spawn(move || status_api.keep_status_fresh(Duration::from_millis(500)));
    println!("Explorer: http://{addr}/");
    if !addr.ip().is_loopback() {
        println!("  warning: {addr} is reachable from other machines; the Explorer has no authentication");
    }
    println!("  checking every state in the background; verdicts appear on the page and here when done");
    println!("  (stop with Ctrl-C)");
    let _ = io::stdout().flush();
    let report_api = Arc::clone(&api);
    std::thread::spawn(move || report_verdicts(addr, &cfg, &report_api));
    let handler_api = Arc::clone(&api);
    let handler: Arc<Handler> = Arc::new(move |method: &str, url: &str| handler_api.handle(method, url));
    match serve(listener, handler, is_heavy) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: the Explorer's server stopped: {e}");
            1
        }
    }
}

/// Waits for the Explorer's run to finish, then prints each property's
/// verdict with the link to its counterexample.
fn report_verdicts(addr: SocketAddr, cfg: &ModelConfig, api: &ExplorerApi) {
    let start = Instant::now();
    let status = loop {
        std::thread::sleep(Duration::from_millis(250));
        let s = api.status();
        if s["done"] == Json::Bool(true) {
            break s;
        }
    };
    print!("{}", verdict_text(&addr.to_string(), cfg, &status, start.elapsed()));
    let _ = io::stdout().flush();
}

/// The verdict table printed when the Explorer's run is done, from its
/// `/.status` JSON (`properties`: `[expectation, name, encoded path | null]`).
pub fn verdict_text(addr: &str, cfg: &ModelConfig, status: &Json, elapsed: Duration) -> String {
    let mut out = format!(
        "checked: {} unique states, depth {}, {:.1}s\n",
        status["unique_state_count"],
        status["max_depth"],
        elapsed.as_secs_f64()
    );
    let empty = Vec::new();
    let props = status["properties"].as_array().unwrap_or(&empty);
    for p in Property::ALL {
        let name = p.name();
        let found = props.iter().find(|q| q[1].as_str() == Some(name)).map(|q| &q[2]);
        let path = found.and_then(|q| q.as_str());
        let verdict = if !p.applies(cfg.scope()) {
            Verdict::NotApplicable
        } else if path.is_some() {
            Verdict::Violated
        } else {
            Verdict::Holds
        };
        let (exp, finding) = expect::expected(cfg, p);
        let mark = if exp == verdict { "" } else { " <- unexpected" };
        let exp = match finding {
            Some(f) => format!("{exp} [{f}]"),
            None => exp.to_string(),
        };
        out += &format!("  {name:<15} {:<9} (expected {exp}){mark}\n", verdict.word());
        if let (Verdict::Violated, Some(p)) = (verdict, path) {
            let link = format!("{p}?cfg={}", config_fingerprint(cfg));
            out += &format!("      counterexample: {}\n", steps_url(addr, &link));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_url_names_the_path() {
        assert_eq!(steps_url(DEFAULT_ADDR, "0/5/1"), "http://127.0.0.1:3000/#/steps/0/5/1");
    }
}
