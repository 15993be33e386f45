//! What a run reports: the human summary table and the `--json` object, and
//! the progress line on stderr.

use super::sink::OpStats;
use super::CrashAt;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Bytes one link carried: the sum of the postcard-encoded sizes of the
/// frames measured, and how many were measured; and (in-process engine)
/// the slots that carried something in those frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkBytes {
    pub bytes: u64,
    pub frames: u64,
    pub slots: u64,
    /// Of the full slots, those carrying a write request.
    pub writes: u64,
}

impl LinkBytes {
    pub fn add(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
        self.frames += 1;
    }

    /// [`LinkBytes::add`], counting the frame's full slots, and the write
    /// requests among them, too.
    pub fn add_frame<V>(&mut self, bytes: usize, frame: &crate::node::Frame<V>) {
        self.add(bytes);
        self.slots += frame.used_slots() as u64;
        if let crate::node::Frame::Up(s) = frame {
            self.writes += s.iter().filter(|(_, r)| r.op.is_write()).count() as u64;
        }
    }

    /// Mean full slots per frame: on a link from the FE to a replica, the
    /// requests that replica serves per cycle (its load).
    pub fn mean_slots(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.slots as f64 / self.frames as f64)
    }

    /// Mean bytes per frame: per cycle, over the cycles the link carried one.
    pub fn mean(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.bytes as f64 / self.frames as f64)
    }
}

/// A failure detection in the UDP engine: `observer` stopped hearing from
/// `dead` and treats it as crashed from `cycle` on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Death {
    pub observer: String,
    pub dead: String,
    pub cycle: u32,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// `inproc` or `udp`.
    pub transport: &'static str,
    /// The topology label (`replicated C=16 S=4 R=3 fanout`).
    pub topology: String,
    pub workload: String,
    pub seed: u64,
    pub cycles: u32,
    /// Wall time of the cycles (not of setup or of writing the history's tail).
    pub seconds: f64,
    pub stats: OpStats,
    /// The failure-free latency the topology promises.
    pub latency_expected: u32,
    /// With a cache (`--cache`): its label and the latency of a hit, by
    /// which hits are counted (a read answered with a value in exactly
    /// these cycles: a miss takes 2 + 2·levels).
    pub cache: Option<(String, u32)>,
    /// Per link, in topology order: its name and the bytes it carried.
    pub links: Vec<(String, LinkBytes)>,
    /// Frames were measured every this many cycles (1: every frame).
    pub bytes_sample_every: u32,
    /// Datagrams dropped because they could not be used, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Resent frames that arrived after the original (ignored).
    pub duplicate_frames: u64,
    /// The crashes injected, at their exact cycle.
    pub crashes: Vec<CrashAt>,
    /// The processes killed without warning (UDP `--kill`), with the cycle
    /// in which each SIGKILLed itself (mid-send: after computing it and
    /// sending half of its frames).
    pub kills: Vec<CrashAt>,
    /// Failure detections (UDP engine).
    pub deaths: Vec<Death>,
    /// Node processes that died without being told to (UDP engine: killed
    /// by hand, crashed): treated as crashes. The cycle is the first its
    /// neighbours read it as dead, or else the last it reported.
    pub unexpected: Vec<CrashAt>,
    /// Datagrams dropped on purpose (UDP `--drop-rate`) and frames resent
    /// because a neighbour asked for them (UDP engine).
    pub injected_drops: u64,
    pub resent_frames: u64,
    /// Where the history went.
    pub history: Option<PathBuf>,
    /// `--serialize-state`: the bytes of server state serialized (and
    /// deserialized back) per cycle, on average over the run.
    pub state_bytes_per_cycle: Option<f64>,
    /// What the run's reader should know that no other field says (UDP: a
    /// client that died, a torn last line dropped from a client log).
    pub warnings: Vec<String>,
    /// `--slots`: the root FE's queue depth per shard (`None` without).
    pub queues: Option<super::queues::QueueStats>,
    /// Replicas restarted (`--restart`), each with the first cycle it
    /// served again.
    pub restarts: Vec<crate::runtime::durable::Restart>,
    /// Commits made to the durable store (`--persist sync|async`).
    pub commits: u64,
}

impl Report {
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub fn ops_per_sec(&self) -> f64 {
        per(self.stats.completed() as f64, self.seconds)
    }

    pub fn cycles_per_sec(&self) -> f64 {
        per(self.cycles as f64, self.seconds)
    }

    pub fn ops_per_cycle(&self) -> f64 {
        per(self.stats.completed() as f64, self.cycles as f64)
    }

    /// The links between the root FE and the servers, by name (`fe→r0.1`,
    /// `s1→fe2.0`, …): what `--slots K` bounds.
    pub fn fe_server_links(&self) -> impl Iterator<Item = &(String, LinkBytes)> {
        let fe = |n: &str| n.starts_with("fe");
        let server = |n: &str| n == "server" || n.starts_with('s') || n.starts_with('r');
        self.links.iter().filter(move |(name, _)| {
            name.split_once('→')
                .is_some_and(|(a, b)| (fe(a) && server(b)) || (server(a) && fe(b)))
        })
    }

    /// Mean bytes per link per cycle over the links between the root FE
    /// and the servers (the links that carried a frame measured).
    pub fn fe_server_bytes(&self) -> Option<f64> {
        let means: Vec<f64> = self.fe_server_links().filter_map(|(_, b)| b.mean()).collect();
        (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64)
    }

    /// Nodes detected dead that no crash was injected into: false suspicions
    /// (a live process that was silent for longer than the death timeout).
    pub fn suspected(&self) -> Vec<&Death> {
        self.deaths
            .iter()
            .filter(|d| {
                !self
                    .crashes
                    .iter()
                    .chain(&self.kills)
                    .chain(&self.unexpected)
                    .any(|c| c.node == d.dead)
            })
            .collect()
    }

    /// The `--json` object.
    pub fn to_json(&self) -> Json {
        let latency: Map<String, Json> = self
            .stats
            .latency
            .iter()
            .map(|(l, n)| (l.to_string(), json!(n)))
            .collect();
        let bytes: Map<String, Json> = self
            .links
            .iter()
            .filter_map(|(name, b)| b.mean().map(|m| (name.clone(), json!(round3(m)))))
            .collect();
        let slots: Map<String, Json> = self
            .links
            .iter()
            .filter(|_| self.transport == "inproc")
            .filter_map(|(name, b)| b.mean_slots().map(|m| (name.clone(), json!(round3(m)))))
            .collect();
        let s = &self.stats;
        json!({
            "transport": self.transport,
            "topology": self.topology,
            "workload": self.workload,
            "seed": self.seed,
            "cycles": self.cycles,
            "ops": s.completed(),
            "seconds": round3(self.seconds),
            "ops_per_sec": self.ops_per_sec().round(),
            "ops_per_cycle": round3(self.ops_per_cycle()),
            "cycles_per_sec": self.cycles_per_sec().round(),
            "outcomes": {"invoked": s.invoked, "ok": s.ok, "fail": s.fail,
                         "unavailable": s.unavailable, "pending": s.pending, "busy": s.busy},
            "latency_cycles": latency,
            "latency_expected": self.latency_expected,
            "reads": self.reads_json(),
            "cache": self.cache_json(),
            "bytes_per_link_cycle": bytes,
            "slots_per_link_cycle": slots,
            "bytes_sample_every": self.bytes_sample_every,
            "state_bytes_per_cycle": self.state_bytes_per_cycle.map(|b| b.round()),
            "dropped_frames": self.dropped_frames(),
            "dropped_by_reason": self.dropped,
            "duplicate_frames": self.duplicate_frames,
            "crashes": self.crashes.iter().map(|c| json!({"node": c.node, "cycle": c.cycle})).collect::<Vec<_>>(),
            "kills": self.kills.iter().map(|c| json!({"node": c.node, "cycle": c.cycle})).collect::<Vec<_>>(),
            "deaths": self.deaths.iter().map(|d| json!({"observer": d.observer, "dead": d.dead, "cycle": d.cycle})).collect::<Vec<_>>(),
            "unexpected_deaths": self.unexpected.iter().map(|c| json!({"node": c.node, "cycle": c.cycle})).collect::<Vec<_>>(),
            "injected_drops": self.injected_drops,
            "resent_frames": self.resent_frames,
            "history": self.history.as_ref().map(|p| p.display().to_string()),
            "warnings": self.warnings,
            "queue_depth": self.queues.as_ref().map(|q| q.to_json()),
            "fe_server_bytes_per_link_cycle": self.fe_server_bytes().map(round3),
            "restarts": self.restarts.iter().map(|r| json!({"node": r.node, "cycle": r.cycle, "serving": r.serving,
                "rejoin_cycles": r.serving.map(|s| s - r.cycle)})).collect::<Vec<_>>(),
            "durable_commits": self.commits,
        })
    }

    /// Reads answered with a value: how many, their mean latency and their
    /// latency distribution.
    fn reads_json(&self) -> Json {
        let (n, mean) = self.stats.reads();
        let dist: Map<String, Json> = self
            .stats
            .read_latency
            .iter()
            .map(|(l, n)| (l.to_string(), json!(n)))
            .collect();
        json!({"answered": n, "mean_latency": mean.map(round3), "latency_cycles": dist})
    }

    /// Reads answered from a cache (see [`Report::cache`]), or `null`.
    pub fn cache_hits(&self) -> Option<(u64, f64)> {
        let (_, hit) = self.cache.as_ref()?;
        let (n, _) = self.stats.reads();
        let hits = self.stats.read_latency.get(hit).copied().unwrap_or(0);
        Some((hits, per(hits as f64, n as f64)))
    }

    fn cache_json(&self) -> Json {
        match (&self.cache, self.cache_hits()) {
            (Some((label, hit)), Some((hits, rate))) => {
                json!({"cache": label, "hit_latency": hit, "hits": hits, "hit_rate": round3(rate)})
            }
            _ => Json::Null,
        }
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<18}{v}\n"));
        line(
            "run",
            format!("{}, transport {}, seed {}", self.topology, self.transport, self.seed),
        );
        line("workload", self.workload.clone());
        let crashes = if self.crashes.is_empty() {
            "none".to_string()
        } else {
            self.crashes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ")
        };
        line("crashes applied", crashes);
        if !self.kills.is_empty() {
            let kills: Vec<String> = self.kills.iter().map(|k| k.to_string()).collect();
            line(
                "processes killed",
                format!("{} (--kill: exact, mid-send)", kills.join(" ")),
            );
        }
        if !self.restarts.is_empty() {
            let r: Vec<String> = self
                .restarts
                .iter()
                .map(|r| match r.serving {
                    Some(s) => format!("{}@{} (serving from {s})", r.node, r.cycle),
                    None => format!("{}@{} (still catching up)", r.node, r.cycle),
                })
                .collect();
            line("restarts", r.join(" "));
        }
        if !self.unexpected.is_empty() {
            let dead: Vec<String> = self
                .unexpected
                .iter()
                .map(|k| format!("{}@{}", k.node, k.cycle))
                .collect();
            line(
                "unexpected deaths",
                format!(
                    "{} (processes that died untold: a server or FE counts as a crash, a client as one that stops sending; cycle: the first read as dead)",
                    dead.join(" ")
                ),
            );
        }
        line(
            "cycles",
            format!(
                "{} in {:.2} s = {} cycles/s",
                group(self.cycles as u64),
                self.seconds,
                group(self.cycles_per_sec().round() as u64)
            ),
        );
        line(
            "operations",
            format!(
                "{} returned (ok {}, fail {}, unavailable {}), {} pending",
                group(s.completed()),
                group(s.ok),
                group(s.fail),
                group(s.unavailable),
                group(s.pending)
            ),
        );
        if let Some(q) = &self.queues {
            let mean: Vec<String> = q.mean().iter().map(|m| format!("{m:.2}")).collect();
            let max: Vec<String> = q.max.iter().map(|m| m.to_string()).collect();
            line(
                "fe queues",
                format!(
                    "{} busy answers; depth per shard after a cycle: mean {}, max {}",
                    group(s.busy),
                    mean.join(" "),
                    max.join(" ")
                ),
            );
        }
        line(
            "throughput",
            format!(
                "{} ops/s, {:.3} ops/cycle",
                group(self.ops_per_sec().round() as u64),
                self.ops_per_cycle()
            ),
        );
        if let (Some((label, hit)), Some((hits, rate))) = (&self.cache, self.cache_hits()) {
            let (reads, mean) = s.reads();
            line(
                "cache",
                format!(
                    "{label}: {} hits of {} reads answered with a value (hit rate {:.3}; a hit takes {hit} cycles); mean read latency {}",
                    group(hits),
                    group(reads),
                    rate,
                    mean.map_or("-".to_string(), |m| format!("{m:.3} cycles"))
                ),
            );
        }
        if let Some(b) = self.state_bytes_per_cycle {
            line(
                "state serialized",
                format!(
                    "{} bytes per cycle (every server's state, round-tripped every cycle)",
                    group(b.round() as u64)
                ),
            );
        }
        let q = |x| s.latency_quantile(x).map_or("-".to_string(), |l| l.to_string());
        line(
            "latency (cycles)",
            format!(
                "p50 {}, p99 {}, max {} (failure-free latency of the topology: {})",
                q(0.5),
                q(0.99),
                q(1.0),
                self.latency_expected
            ),
        );
        let total = s.latency.values().sum::<u64>().max(1) as f64;
        let rows: Vec<(&u32, &u64)> = s.latency.iter().collect();
        let shown = 16;
        for (lat, n) in rows.iter().take(shown) {
            out.push_str(&format!(
                "  {:>6} cycles {:>14}  {:>7.3}%\n",
                lat,
                group(**n),
                100.0 * **n as f64 / total
            ));
        }
        if rows.len() > shown {
            let rest: u64 = rows[shown..].iter().map(|(_, n)| **n).sum();
            out.push_str(&format!(
                "  {:>6}        {:>14}  {:>7.3}%  ({} more latencies)\n",
                "more",
                group(rest),
                100.0 * rest as f64 / total,
                rows.len() - shown
            ));
        }
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<18}{v}\n"));
        let mut dropped = group(self.dropped_frames());
        if !self.dropped.is_empty() {
            let why: Vec<String> = self.dropped.iter().map(|(r, n)| format!("{r} {n}")).collect();
            dropped += &format!(" ({})", why.join(", "));
        }
        if self.duplicate_frames > 0 {
            dropped += &format!("; {} duplicate resends ignored", group(self.duplicate_frames));
        }
        if self.injected_drops > 0 || self.resent_frames > 0 {
            dropped += &format!(
                "; {} dropped on purpose (--drop-rate), {} frames resent on request",
                group(self.injected_drops),
                group(self.resent_frames)
            );
        }
        line("dropped frames", dropped);
        if self.transport == "udp" {
            let mut dead: BTreeMap<&str, u32> = BTreeMap::new();
            for d in &self.deaths {
                let e = dead.entry(d.dead.as_str()).or_insert(d.cycle);
                *e = (*e).min(d.cycle);
            }
            let text = if dead.is_empty() {
                "none".to_string()
            } else {
                dead.iter()
                    .map(|(n, c)| format!("{n} from cycle {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            line("deaths detected", text);
            let suspected = self.suspected();
            if !suspected.is_empty() {
                let who: Vec<String> = suspected
                    .iter()
                    .map(|d| format!("{} by {}", d.dead, d.observer))
                    .collect();
                line(
                    "WARNING",
                    format!(
                        "false suspicion (no crash injected): {}; raise --death-timeout-ms",
                        who.join(", ")
                    ),
                );
            }
        }
        for w in &self.warnings {
            line("WARNING", w.clone());
        }
        if let Some(h) = &self.history {
            line("history", h.display().to_string());
        }
        let how = if self.bytes_sample_every <= 1 {
            "every frame".to_string()
        } else {
            format!("sampled every {} cycles", self.bytes_sample_every)
        };
        out.push_str(&format!(
            "bytes per link per cycle (frame as encoded on the wire, {how}; links grouped by name):\n"
        ));
        out.push_str(&format!(
            "  {:<22}{:>6}{:>10}{:>10}{:>10}\n",
            "links", "count", "mean", "min", "max"
        ));
        for (pattern, means) in self.link_groups() {
            let n = means.len();
            let mean = means.iter().sum::<f64>() / n as f64;
            let min = means.iter().copied().fold(f64::INFINITY, f64::min);
            let max = means.iter().copied().fold(0.0, f64::max);
            out.push_str(&format!("  {pattern:<22}{n:>6}{mean:>10.1}{min:>10.1}{max:>10.1}\n"));
        }
        out
    }

    /// Links grouped by their name with every number replaced by `*`
    /// (`c*→fe`, `fe→r*.*`), with each measured link's mean, in first-seen order.
    fn link_groups(&self) -> Vec<(String, Vec<f64>)> {
        let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
        for (name, b) in &self.links {
            let Some(m) = b.mean() else { continue };
            let pattern = star_digits(name);
            match groups.iter_mut().find(|(p, _)| *p == pattern) {
                Some((_, v)) => v.push(m),
                None => groups.push((pattern, vec![m])),
            }
        }
        groups
    }
}

fn per(x: f64, y: f64) -> f64 {
    if y > 0.0 {
        x / y
    } else {
        0.0
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    // Digits before the first comma: a group of 1 to 3.
    let lead = s.len() % 3;
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && i % 3 == lead {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn star_digits(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_number = false;
    for ch in name.chars() {
        if ch.is_ascii_digit() {
            if !in_number {
                out.push('*');
            }
            in_number = true;
        } else {
            out.push(ch);
            in_number = false;
        }
    }
    out
}

/// The progress line on stderr: shown once a run has taken a second; on a
/// terminal redrawn in place twice a second, otherwise one line every ten
/// seconds.
pub struct Progress {
    enabled: bool,
    tty: bool,
    start: Instant,
    last: Option<Instant>,
    total: u32,
    drawn: bool,
}

impl Progress {
    pub fn new(enabled: bool, total_cycles: u32) -> Progress {
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
            total: total_cycles,
            drawn: false,
        }
    }

    /// Reports that `cycle` cycles are done and (if known) `ops` operations
    /// returned.
    pub fn update(&mut self, cycle: u32, ops: Option<u64>) {
        self.update_with_note(cycle, ops, "");
    }

    /// [`Progress::update`] with `note` (what the run waits for, say)
    /// appended to the line.
    pub fn update_with_note(&mut self, cycle: u32, ops: Option<u64>, note: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let elapsed = now - self.start;
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let every = if self.tty {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(10)
        };
        if self.last.is_some_and(|l| now - l < every) {
            return;
        }
        self.last = Some(now);
        let secs = elapsed.as_secs_f64();
        let mut text = format!(
            "cycle {}/{} ({:.0}%), {} cycles/s",
            group(cycle as u64),
            group(self.total as u64),
            100.0 * cycle as f64 / self.total.max(1) as f64,
            group((cycle as f64 / secs) as u64),
        );
        if let Some(ops) = ops {
            text += &format!(", {} ops/s", group((ops as f64 / secs) as u64));
        }
        if !note.is_empty() {
            text += "; ";
            text += note;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line (terminal) before the summary is printed.
    pub fn finish(&mut self) {
        if self.drawn && self.tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
        self.drawn = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234), "1,234");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(star_digits("fe→r12.3"), "fe→r*.*");
        assert_eq!(star_digits("c0→fe0.1"), "c*→fe*.*");
    }
}
