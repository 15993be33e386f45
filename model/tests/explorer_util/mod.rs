//! Shared by the Explorer tests: run `tidekv explore` as a child process on
//! loopback, talk HTTP to it, and kill it when the test ends.

#![allow(dead_code)]

use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tidekv_model::cli::http::http_request;

/// The configuration the tests and docs/EXPLORING.md explore: the `seed`
/// protocol's replicas diverge in 3 cycles.
pub const SEED_RACE: &[&str] = &[
    "--topology",
    "replicated",
    "--replicas",
    "2",
    "--protocol",
    "seed",
    "--ops",
    "get,put",
];

/// Every test gives up after this long.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A running `tidekv explore`, killed on drop.
pub struct Explorer {
    child: Child,
    pub addr: SocketAddr,
    lines: Receiver<String>,
    /// Stdout lines read so far.
    pub stdout: Vec<String>,
    pub started: Instant,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

impl Explorer {
    /// Starts `tidekv explore FLAGS --addr ADDR` and waits for the line that
    /// names its URL.
    pub fn start(flags: &[&str], addr: &str) -> Explorer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tidekv"))
            .arg("explore")
            .args(flags)
            .args(["--addr", addr])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tidekv explore");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ex = Explorer {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            lines,
            stdout: Vec::new(),
            started: Instant::now(),
        };
        let url_line = ex.wait_for_line(|l| l.starts_with("Explorer: "));
        let url = url_line.trim_start_matches("Explorer: ");
        let host = url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix('/'))
            .unwrap_or_else(|| panic!("bad URL line {url_line:?}"));
        ex.addr = host.parse().expect("the URL names a socket address");
        assert!(ex.addr.ip().is_loopback(), "{url_line}");
        ex
    }

    /// Reads stdout until a line matches; fails at the deadline.
    pub fn wait_for_line(&mut self, want: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.stdout.iter().find(|l| want(l)) {
            return l.clone();
        }
        loop {
            let left = DEADLINE.saturating_sub(self.started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "tidekv explore: no expected line within {DEADLINE:?} ({e}); stdout so far:\n{}",
                    self.stdout.join("\n")
                ),
            }
        }
    }

    /// `GET path`: the status and the body as text.
    pub fn get(&self, path: &str) -> (u16, String) {
        let (code, body) =
            http_request(self.addr, "GET", path, Duration::from_secs(20)).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (code, String::from_utf8(body).expect("UTF-8 body"))
    }

    /// `GET path` as JSON; fails unless the status is 200.
    pub fn get_json(&self, path: &str) -> Json {
        let (code, body) = self.get(path);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Polls `/.status` until the run to completion (started by `explore`
    /// itself) is done; returns the final status.
    pub fn wait_done(&self) -> Json {
        loop {
            let status = self.get_json("/.status");
            if status["done"] == Json::Bool(true) {
                return status;
            }
            assert!(
                self.started.elapsed() < DEADLINE,
                "the Explorer's run did not finish within {DEADLINE:?}: {status}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The encoded counterexample path of `property` in a status.
    pub fn discovery(status: &Json, property: &str) -> Option<String> {
        status["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .find(|p| p[1] == property)
            .unwrap_or_else(|| panic!("no property {property} in {status}"))[2]
            .as_str()
            .map(str::to_string)
    }

    /// The Explorer's view of the state at an encoded path (`0/14/2/0`):
    /// `GET /.states/<path>` (its text, diagram, violations, the path's
    /// steps and a page of next actions).
    pub fn view(&self, encoded: &str) -> Json {
        self.get_json(&format!("/.states/{encoded}"))
    }

    /// The actions along an encoded path, as the Explorer names them.
    pub fn actions(&self, encoded: &str) -> Vec<String> {
        let view = self.view(encoded);
        view["steps"]
            .as_array()
            .expect("the path's steps")
            .iter()
            .map(|s| s["action"].as_str().expect("an action").to_string())
            .collect()
    }
}

impl Drop for Explorer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
