//! Workloads: what each client asks for, and when.
//!
//! A [`ClientDriver`] is the per-client generator both engines use. It is
//! closed-loop: a client has at most one operation outstanding and so issues
//! at most one request per cycle. A new operation starts in the cycle the
//! previous one returned (`--think-cycles 0`, the default) or `T` cycles
//! later. Each operation is drawn from the client's own [`Stream`]
//! (`workload/<client>`), in this order: write or read (`--write-ratio`), which
//! write kind (uniform among the write kinds in `--ops`), the key
//! (`--distribution`). Written values are unique: see [`value_id`].

use super::rng::Stream;
use super::value::{Value, VALUE_BYTES_MAX, VALUE_BYTES_MIN};
use crate::node::client::ClientEvent;
use crate::node::{ClientId, Key, Op};
use std::fmt;

/// Largest key space.
pub const KEYS_MAX: u32 = 1 << 30;

/// The operation kinds a workload may use.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum OpKind {
    Get,
    Put,
    Insert,
    Modify,
    Delete,
}

impl OpKind {
    pub const ALL: [OpKind; 5] = [OpKind::Get, OpKind::Put, OpKind::Insert, OpKind::Modify, OpKind::Delete];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Insert => "insert",
            OpKind::Modify => "modify",
            OpKind::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the operation is conditional (decided on the value held).
    pub fn conditional(self) -> bool {
        matches!(self, OpKind::Insert | OpKind::Modify)
    }

    /// The kinds a workload of `protocol` uses by default: all five, except
    /// for a versioned protocol (`quorum`), which refuses the conditional
    /// ones.
    pub fn defaults(protocol: crate::node::Protocol) -> Vec<OpKind> {
        OpKind::ALL
            .into_iter()
            .filter(|k| !(protocol.versioned() && k.conditional()))
            .collect()
    }
}

/// How keys are drawn.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Key `k` (0-based) with probability proportional to `1/(k+1)^s`.
    Zipf(f64),
}

impl Distribution {
    /// `uniform` or `zipf:S` with `0 < S <= 100`.
    pub fn parse(s: &str) -> Result<Distribution, String> {
        if s == "uniform" {
            return Ok(Distribution::Uniform);
        }
        let Some(exp) = s.strip_prefix("zipf:") else {
            return Err(format!("expected uniform or zipf:S, got {s:?}"));
        };
        match exp.parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 100.0 => Ok(Distribution::Zipf(x)),
            _ => Err(format!("zipf exponent must be a number in (0, 100], got {exp:?}")),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform => f.write_str("uniform"),
            Distribution::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

/// What the clients do.
#[derive(Clone, PartialEq, Debug)]
pub struct WorkloadSpec {
    /// Keys are `0..keys`.
    pub keys: u32,
    /// Probability that an operation is a write (when `ops` has both kinds).
    pub write_ratio: f64,
    /// The operation kinds in use.
    pub ops: Vec<OpKind>,
    pub distribution: Distribution,
    /// Size of every written value.
    pub value_bytes: usize,
    /// Cycles a client waits after a return before its next request.
    pub think_cycles: u32,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            keys: 100,
            write_ratio: 0.5,
            ops: OpKind::ALL.to_vec(),
            distribution: Distribution::Uniform,
            value_bytes: 8,
            think_cycles: 0,
        }
    }
}

impl WorkloadSpec {
    /// Checks every bound; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.keys == 0 || self.keys > KEYS_MAX {
            return Err(format!("--keys must be 1..={KEYS_MAX}, got {}", self.keys));
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(format!("--write-ratio must be in [0, 1], got {}", self.write_ratio));
        }
        if self.ops.is_empty() {
            return Err("--ops must name at least one operation".into());
        }
        if !(VALUE_BYTES_MIN..=VALUE_BYTES_MAX).contains(&self.value_bytes) {
            return Err(format!(
                "--value-bytes must be {VALUE_BYTES_MIN}..={VALUE_BYTES_MAX} (a value carries its 8-byte id), got {}",
                self.value_bytes
            ));
        }
        Ok(())
    }

    /// The operation list as the flag spells it.
    pub fn ops_label(&self) -> String {
        self.ops.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
    }
}

/// The unique id of a client's `n`-th written value (`n` from 0): the client
/// in the top 24 bits, `n + 1` below, so no id is 0 and no two writes share one.
pub fn value_id(client: ClientId, n: u64) -> u64 {
    assert!(client < 1 << 24 && n + 1 < 1 << 40, "value id space exhausted");
    ((client as u64) << 40) | (n + 1)
}

/// Zipf sampling by rejection-inversion (Hörmann and Derflinger, 1996): O(1)
/// memory and expected time for any number of keys. Draws ranks `1..=n`.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl Zipf {
    pub fn new(n: u32, exponent: f64) -> Zipf {
        assert!(n >= 1 && exponent > 0.0);
        let mut z = Zipf {
            n: n as f64,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n as f64 + 0.5);
        z.s = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`; rank 1 is the most likely.
    pub fn sample(&self, rng: &mut Stream) -> u32 {
        loop {
            let u = self.h_integral_n + rng.unit() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u32;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.exponent) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1+x)/x`, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1)/x`, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// One client's operation generator and closed-loop pacing.
///
/// Call order each cycle: [`ClientDriver::poll`] (before the client steps,
/// with [`crate::node::client::Client::will_be_idle`]), then
/// [`ClientDriver::observe`] for each event the step produced.
#[derive(Clone, Debug)]
pub struct ClientDriver {
    client: ClientId,
    rng: Stream,
    keys: u32,
    zipf: Option<Zipf>,
    write_ratio: f64,
    has_get: bool,
    writes: Vec<OpKind>,
    value_bytes: usize,
    think_cycles: u32,
    /// Values written so far (for [`value_id`]).
    written: u64,
    /// An operation was started and has not returned.
    outstanding: bool,
    /// The first cycle a new operation may start once none is outstanding.
    free_from: u32,
}

impl ClientDriver {
    /// Client `client` (named `name`) of a run seeded with `seed`.
    pub fn new(spec: &WorkloadSpec, seed: u64, client: ClientId, name: &str) -> ClientDriver {
        debug_assert!(spec.validate().is_ok());
        ClientDriver {
            client,
            rng: Stream::workload(seed, name),
            keys: spec.keys,
            zipf: match spec.distribution {
                Distribution::Uniform => None,
                Distribution::Zipf(s) => Some(Zipf::new(spec.keys, s)),
            },
            write_ratio: spec.write_ratio,
            has_get: spec.ops.contains(&OpKind::Get),
            writes: spec.ops.iter().copied().filter(|k| *k != OpKind::Get).collect(),
            value_bytes: spec.value_bytes,
            think_cycles: spec.think_cycles,
            written: 0,
            outstanding: false,
            free_from: 0,
        }
    }

    /// The operation to start at `cycle`, if any. `will_be_idle` says whether
    /// the client is (or becomes, this cycle) free to start one.
    pub fn poll(&mut self, cycle: u32, will_be_idle: bool) -> Option<Op<Value>> {
        if !will_be_idle {
            return None;
        }
        // Outstanding but idle: it returns in this very cycle.
        let ready = if self.outstanding {
            self.think_cycles == 0
        } else {
            cycle >= self.free_from
        };
        if !ready {
            return None;
        }
        self.outstanding = true;
        Some(self.next_op())
    }

    /// Notes what the client did this cycle.
    pub fn observe(&mut self, cycle: u32, event: &ClientEvent<Value>) {
        if let ClientEvent::Return { .. } = event {
            self.outstanding = false;
            self.free_from = cycle.saturating_add(self.think_cycles);
        }
    }

    fn next_op(&mut self) -> Op<Value> {
        let write = match (self.has_get, self.writes.is_empty()) {
            (true, true) => false,
            (false, _) => true,
            (true, false) => self.rng.unit() < self.write_ratio,
        };
        let kind = if write {
            self.writes[self.rng.below(self.writes.len() as u64) as usize]
        } else {
            OpKind::Get
        };
        let key: Key = match &self.zipf {
            None => self.rng.below(self.keys as u64) as Key,
            Some(z) => z.sample(&mut self.rng) - 1,
        };
        let mut value = || {
            let id = value_id(self.client, self.written);
            self.written += 1;
            Value::new(id, self.value_bytes)
        };
        match kind {
            OpKind::Get => Op::Get(key),
            OpKind::Delete => Op::Delete(key),
            OpKind::Put => Op::Put(key, value()),
            OpKind::Insert => Op::Insert(key, value()),
            OpKind::Modify => Op::Modify(key, value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::OpResult;

    #[test]
    fn zipf_follows_its_law() {
        let z = Zipf::new(10, 1.0);
        let mut rng = Stream::new(1, "zipf");
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[z.sample(&mut rng) as usize - 1] += 1;
        }
        // P(rank k) = (1/k) / H(10), H(10) = 2.929.
        for (k, &c) in counts.iter().enumerate() {
            let expect = 100_000.0 / ((k + 1) as f64 * 2.928_968);
            assert!(
                (c as f64 - expect).abs() < 0.05 * expect + 60.0,
                "rank {}: {c} vs {expect}",
                k + 1
            );
        }
        let big = Zipf::new(1 << 30, 0.99);
        for _ in 0..1000 {
            assert!((1..=1 << 30).contains(&big.sample(&mut rng)));
        }
    }

    #[test]
    fn distribution_parses() {
        assert_eq!(Distribution::parse("uniform"), Ok(Distribution::Uniform));
        assert_eq!(Distribution::parse("zipf:0.99"), Ok(Distribution::Zipf(0.99)));
        assert!(Distribution::parse("zipf:0").is_err());
        assert!(Distribution::parse("zipf").is_err());
    }

    #[test]
    fn closed_loop_with_think_time() {
        let spec = WorkloadSpec {
            think_cycles: 2,
            ..WorkloadSpec::default()
        };
        let mut d = ClientDriver::new(&spec, 1, 3, "c3");
        assert!(d.poll(0, true).is_some());
        assert!(d.poll(1, false).is_none());
        // Returns at 4: with think time 2 the next starts at 6.
        assert!(d.poll(4, true).is_none());
        d.observe(
            4,
            &ClientEvent::Return {
                tag: 0,
                result: OpResult::Ok,
            },
        );
        assert!(d.poll(5, true).is_none());
        assert!(d.poll(6, true).is_some());
    }

    #[test]
    fn written_values_are_unique_and_sized() {
        let spec = WorkloadSpec {
            ops: vec![OpKind::Put, OpKind::Insert],
            value_bytes: 32,
            ..WorkloadSpec::default()
        };
        let mut d = ClientDriver::new(&spec, 9, 5, "c5");
        let mut ids = std::collections::BTreeSet::new();
        for cycle in 0..100 {
            let op = d.poll(cycle, true).unwrap();
            let v = op.value().unwrap();
            assert_eq!(v.len(), 32);
            assert_eq!(v.id() >> 40, 5);
            assert!(ids.insert(v.id()));
        }
    }
}
