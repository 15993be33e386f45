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
//! Stateright's Explorer checks nothing until someone presses "Run to
//! completion" (`POST /.runtocompletion`). This command asks for it as soon as
//! the server listens, so the page's Properties panel fills with verdicts and
//! links to their counterexamples by itself; the terminal prints them too.
//!
//! # Addresses
//! The Explorer names a state by its path of action indices:
//! `http://ADDR/#/steps/I/A1/A2/…` opens the state reached from initial state
//! `I` by the `A1`-th action, then the `A2`-th, …, in the order
//! `Model::actions` lists them; `GET /.states/I/A1/…` returns the steps that
//! follow that state as JSON. [`steps_url`] builds the former; `tidekv check`
//! prints one for each counterexample ([`counterexample_url`]).

use crate::checker::expect;
use crate::cli::args::ModelArgs;
use crate::model::ModelConfig;
use crate::view::link::{explorer_model, steps_url, DEFAULT_ADDR};
use serde_json::Value as Json;
use stateright::Model;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
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
    // Binding first turns "address in use" into a message (stateright would
    // panic) and resolves port 0 to the port the Explorer will use.
    let addr = match TcpListener::bind(addr).and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let model = match explorer_model(cfg.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    avoid_ui_dev_mode();

    println!("tidekv explore: {}", cfg.label());
    println!("  flags: {}", cfg.flags());
    let _ = io::stdout().flush();
    std::thread::spawn(move || report_verdicts(addr, &cfg));
    // One checker thread (the builder's default): the run then visits
    // states in a fixed order, so the links are the same on every run, and
    // no thread can overwrite a shorter discovery with a longer one.
    let _ = model.checker().serve(addr);
    0
}

/// Stateright's Explorer serves its web app from `./ui/` instead of the
/// copy compiled in when that directory exists (its development mode). Run
/// from a directory without one, so the page is always the real one.
fn avoid_ui_dev_mode() {
    if std::path::Path::new("ui").exists() {
        let fallback = std::path::Path::new("/");
        if fallback.join("ui").exists() || std::env::set_current_dir(fallback).is_err() {
            eprintln!("warning: ./ui exists; stateright's Explorer will serve its web app from there");
        }
    }
}

/// Starts the Explorer's exhaustive run once the server listens, then waits
/// for it and prints each property's verdict with the link to its
/// counterexample.
fn report_verdicts(addr: SocketAddr, cfg: &ModelConfig) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            eprintln!("warning: the Explorer did not start listening on {addr}");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The URL is printed once it works.
    println!("Explorer: http://{addr}/");
    if !addr.ip().is_loopback() {
        println!("  warning: {addr} is reachable from other machines; the Explorer has no authentication");
    }
    println!("  checking every state in the background; verdicts appear on the page and here when done");
    println!("  (stop with Ctrl-C)");
    let _ = io::stdout().flush();
    let timeout = Duration::from_secs(30);
    if let Err(e) = http_request(addr, "POST", "/.runtocompletion", timeout) {
        eprintln!("warning: could not start the check ({e}); press \"Run to completion\" on the page");
        return;
    }
    let status = loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok((200, body)) = http_request(addr, "GET", "/.status", timeout) else {
            continue;
        };
        match serde_json::from_slice::<Json>(&body) {
            Ok(s) if s["done"] == Json::Bool(true) => break s,
            _ => continue,
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
            out += &format!("      counterexample: {}\n", steps_url(addr, p));
        }
    }
    out
}

/// One HTTP/1.1 request without a body; returns the status code and the
/// body. Enough for the Explorer's endpoints (used by the verdict report and
/// by the tests), not a general client.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if n == 0 {
                return Err(bad("connection closed before the response headers"));
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let code: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status code"))?;
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches(':').trim().to_string())
            })
        };
        let body = &buf[head_end + 4..];
        if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if body.len() >= len {
                return Ok((code, body[..len].to_vec()));
            }
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            if let Some(decoded) = dechunk(body) {
                return Ok((code, decoded));
            }
        } else if n == 0 {
            return Ok((code, body.to_vec()));
        }
        if n == 0 {
            return Err(bad("connection closed before the end of the body"));
        }
    }
}

/// Decodes a complete chunked body; `None` while incomplete.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_once_complete() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), Some(b"abcde".to_vec()));
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nd"), None);
    }

    #[test]
    fn steps_url_names_the_path() {
        assert_eq!(steps_url(DEFAULT_ADDR, "0/5/1"), "http://127.0.0.1:3000/#/steps/0/5/1");
    }
}
