//! Where client events go: operation statistics and, with `--history`, the
//! JSON-lines history, streamed cycle by cycle so that a run of 10^6 cycles
//! never holds its history in memory.
//!
//! Both engines feed a [`HistorySink`] the same sequence: for each cycle in
//! order, each client's events in client order, as [`Cluster::step`] emits
//! them. The in-process engine feeds it directly; the UDP engine's client
//! processes write [`ClientLog`]s that the supervisor merges back into that
//! sequence ([`merge_client_logs`]). The sink writes exactly what
//! [`history::write_jsonl`] would write for the whole history (a unit test
//! holds it to that), so the output does not depend on the engine.
//!
//! Values are written as their ids (`u64`), which `tidekv verify` reads.
//!
//! [`Cluster::step`]: crate::cluster::Cluster::step
//! [`history::write_jsonl`]: crate::history::write_jsonl

use super::value::Value;
use crate::history::{event_json, OpRecord, Ret};
use crate::node::client::ClientEvent;
use crate::node::{ClientId, Op, OpResult, Tag};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufWriter, Write};

/// An operation with its values replaced by their ids.
pub fn op_ids(op: &Op<Value>) -> Op<u64> {
    op.map_value(Value::id)
}

/// A result with its values replaced by their ids.
pub fn result_ids(r: &OpResult<Value>) -> OpResult<u64> {
    r.map_value(Value::id)
}

/// What the clients did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Operations started.
    pub invoked: u64,
    /// Returned and took effect.
    pub ok: u64,
    /// Returned and did not take effect (a failed condition).
    pub fail: u64,
    /// Returned `Unavailable`.
    pub unavailable: u64,
    /// Not returned when the run ended.
    pub pending: u64,
    /// Latency in cycles → operations, over every returned operation.
    pub latency: BTreeMap<u32, u64>,
}

impl OpStats {
    /// Returned operations, whatever the answer.
    pub fn completed(&self) -> u64 {
        self.ok + self.fail + self.unavailable
    }

    /// The latency below which `q` of the returned operations fall.
    pub fn latency_quantile(&self, q: f64) -> Option<u32> {
        let total = self.completed();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&lat, &n) in &self.latency {
            seen += n;
            if seen >= rank {
                return Some(lat);
            }
        }
        self.latency.keys().next_back().copied()
    }
}

/// A returned or pending operation, with its position in invocation order.
type Indexed = (u64, OpRecord<u64>);

/// Consumes client events cycle by cycle; see the module doc.
pub struct HistorySink {
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    /// Per client: its operation in flight, with its index.
    pending: Vec<Option<Indexed>>,
    next_op: u64,
    next_event: u64,
    /// The cycle whose events are being fed (`None` before the first).
    cycle: Option<u32>,
    /// This cycle's events, by class of time: returns of earlier invocations
    /// (time `3t`), invocations (`3t+1`), returns in the invoking cycle (`3t+2`).
    returns: Vec<Indexed>,
    invokes: Vec<Indexed>,
    instant: Vec<Indexed>,
    /// Latencies below [`SMALL_LATENCY`] cycles, counted here and merged into
    /// `stats.latency` by [`HistorySink::finish`]: an array bump per return
    /// instead of a map lookup.
    small_latency: [u64; SMALL_LATENCY],
    /// What the sink has counted; `latency` is complete only after `finish`.
    pub stats: OpStats,
}

const SMALL_LATENCY: usize = 64;

impl HistorySink {
    /// A sink for `clients` clients; `out` receives the JSON-lines history.
    pub fn new(clients: usize, out: Option<Box<dyn Write + Send>>) -> HistorySink {
        HistorySink {
            out: out.map(|w| BufWriter::with_capacity(1 << 16, w)),
            pending: vec![None; clients],
            next_op: 0,
            next_event: 0,
            cycle: None,
            returns: Vec::new(),
            invokes: Vec::new(),
            instant: Vec::new(),
            small_latency: [0; SMALL_LATENCY],
            stats: OpStats::default(),
        }
    }

    fn at(&mut self, cycle: u32) {
        assert!(
            self.cycle.unwrap_or(0) <= cycle,
            "events fed out of cycle order: {cycle} after {:?}",
            self.cycle
        );
        self.cycle = Some(cycle);
    }

    /// A client started an operation.
    pub fn invoke(&mut self, cycle: u32, client: ClientId, tag: Tag, op: Op<u64>) {
        self.at(cycle);
        assert!(self.pending[client].is_none(), "c{client} invoked twice");
        let rec = OpRecord {
            client: client as u16,
            tag,
            op,
            invoke: cycle,
            ret: None,
        };
        let index = self.next_op;
        self.next_op += 1;
        self.stats.invoked += 1;
        if self.out.is_some() {
            self.invokes.push((index, rec.clone()));
        }
        self.pending[client] = Some((index, rec));
    }

    /// A client's operation returned.
    pub fn ret(&mut self, cycle: u32, client: ClientId, tag: Tag, result: OpResult<u64>) {
        self.at(cycle);
        let (index, mut rec) = self.pending[client].take().expect("a return matches an invocation");
        assert_eq!(rec.tag, tag, "c{client} returned a tag it did not invoke");
        match &result {
            OpResult::Unavailable => self.stats.unavailable += 1,
            OpResult::Exists | OpResult::Absent => self.stats.fail += 1,
            _ => self.stats.ok += 1,
        }
        let latency = cycle - rec.invoke;
        match self.small_latency.get_mut(latency as usize) {
            Some(n) => *n += 1,
            None => *self.stats.latency.entry(latency).or_insert(0) += 1,
        }
        if self.out.is_some() {
            let same_cycle = rec.invoke == cycle;
            rec.ret = Some(Ret { cycle, result });
            if same_cycle {
                self.instant.push((index, rec));
            } else {
                self.returns.push((index, rec));
            }
        }
    }

    /// A client event from the node logic.
    pub fn event(&mut self, cycle: u32, client: ClientId, event: &ClientEvent<Value>) {
        match event {
            ClientEvent::Invoke { tag, op } => self.invoke(cycle, client, *tag, op_ids(op)),
            ClientEvent::Return { tag, result } => self.ret(cycle, client, *tag, result_ids(result)),
        }
    }

    /// Every event of `cycle` has been fed: write them, in time order.
    pub fn end_cycle(&mut self, cycle: u32) -> io::Result<()> {
        debug_assert!(self.cycle.unwrap_or(0) <= cycle);
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        // Returns of earlier invocations come in invocation order, which is
        // not client order; the other two classes are fed in index order.
        self.returns.sort_unstable_by_key(|(i, _)| *i);
        let classes = [
            (&mut self.returns, true),
            (&mut self.invokes, false),
            (&mut self.instant, true),
        ];
        for (events, completion) in classes {
            for (_, rec) in events.drain(..) {
                let time = if completion {
                    rec.return_time().expect("a completion has a return")
                } else {
                    rec.invoke_time()
                };
                serde_json::to_writer(&mut *out, &event_json(self.next_event, time, &rec, completion))?;
                out.write_all(b"\n")?;
                self.next_event += 1;
            }
        }
        Ok(())
    }

    /// The run is over: flushes the history and returns the statistics.
    pub fn finish(mut self) -> io::Result<OpStats> {
        debug_assert!(self.returns.is_empty() && self.invokes.is_empty() && self.instant.is_empty());
        self.stats.pending = self.pending.iter().filter(|p| p.is_some()).count() as u64;
        for (latency, &n) in self.small_latency.iter().enumerate() {
            if n > 0 {
                *self.stats.latency.entry(latency as u32).or_insert(0) += n;
            }
        }
        if let Some(mut out) = self.out.take() {
            out.flush()?;
        }
        Ok(self.stats)
    }
}

/// One client's operations, one JSON [`OpRecord`] per line in invocation
/// order, written by a client process of the UDP engine as each returns
/// (and at the end for the one still pending).
pub struct ClientLog<W: Write> {
    out: BufWriter<W>,
    pending: Option<OpRecord<u64>>,
    client: u16,
}

impl<W: Write> ClientLog<W> {
    pub fn new(client: ClientId, out: W) -> Self {
        ClientLog {
            out: BufWriter::with_capacity(1 << 16, out),
            pending: None,
            client: client as u16,
        }
    }

    /// Records one of the client's events.
    pub fn event(&mut self, cycle: u32, event: &ClientEvent<Value>) -> io::Result<()> {
        match event {
            ClientEvent::Invoke { tag, op } => {
                assert!(self.pending.is_none(), "a client has one operation in flight");
                self.pending = Some(OpRecord {
                    client: self.client,
                    tag: *tag,
                    op: op_ids(op),
                    invoke: cycle,
                    ret: None,
                });
                Ok(())
            }
            ClientEvent::Return { tag, result } => {
                let mut rec = self.pending.take().expect("a return matches an invocation");
                assert_eq!(rec.tag, *tag);
                rec.ret = Some(Ret {
                    cycle,
                    result: result_ids(result),
                });
                self.write(&rec)
            }
        }
    }

    fn write(&mut self, rec: &OpRecord<u64>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, rec)?;
        self.out.write_all(b"\n")
    }

    /// Writes the pending operation, if any, and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(rec) = self.pending.take() {
            self.write(&rec)?;
        }
        self.out.flush()
    }
}

/// A client log being read back: the operation whose events come next.
struct LogCursor<R: BufRead> {
    lines: io::Lines<R>,
    /// The next operation, and whether its invocation was already fed.
    cur: Option<(OpRecord<u64>, bool)>,
    name: String,
    line: usize,
}

impl<R: BufRead> LogCursor<R> {
    fn advance(&mut self) -> io::Result<()> {
        self.cur = None;
        for line in self.lines.by_ref() {
            let line = line?;
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            let rec: OpRecord<u64> = serde_json::from_str(&line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {}: {e}", self.name, self.line),
                )
            })?;
            self.cur = Some((rec, false));
            break;
        }
        Ok(())
    }

    /// The cycle of this log's next event.
    fn next_cycle(&self) -> Option<u32> {
        match &self.cur {
            None => None,
            Some((rec, false)) => Some(rec.invoke),
            Some((rec, true)) => rec.ret.as_ref().map(|r| r.cycle),
        }
    }
}

/// Merges the clients' logs (`logs[c]` for client `c`, with a name for error
/// messages) into `sink`, in the order the in-process engine feeds it.
pub fn merge_client_logs<R: BufRead>(logs: Vec<(String, R)>, sink: &mut HistorySink) -> io::Result<()> {
    let mut cursors = Vec::with_capacity(logs.len());
    for (name, r) in logs {
        let mut c = LogCursor {
            lines: r.lines(),
            cur: None,
            name,
            line: 0,
        };
        c.advance()?;
        cursors.push(c);
    }
    let bad = |c: &LogCursor<R>, what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} line {}: {what}", c.name, c.line),
        )
    };
    while let Some(t) = cursors.iter().filter_map(LogCursor::next_cycle).min() {
        for (client, c) in cursors.iter_mut().enumerate() {
            // A client's events in one cycle: the return of its operation in
            // flight, then a new invocation, then (upstream dead) its return.
            while c.next_cycle() == Some(t) {
                let (rec, invoked) = c.cur.as_mut().expect("next_cycle is Some");
                if !*invoked {
                    if rec.client as usize != client {
                        return Err(bad(c, "operation of another client"));
                    }
                    sink.invoke(t, client, rec.tag, rec.op.clone());
                    *invoked = true;
                } else {
                    let ret = rec.ret.clone().expect("next_cycle is the return");
                    if ret.cycle < rec.invoke {
                        return Err(bad(c, "returns before it is invoked"));
                    }
                    sink.ret(t, client, rec.tag, ret.result);
                    c.advance()?;
                    if c.next_cycle().is_some_and(|n| n < t) {
                        return Err(bad(c, "operations out of order"));
                    }
                }
            }
        }
        sink.end_cycle(t)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::{write_jsonl, History};
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes the test can read after the sink is dropped
    /// (the runtime's other tests use it too).
    #[derive(Clone, Default)]
    pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn inv(tag: Tag, op: Op<u64>) -> ClientEvent<u64> {
        ClientEvent::Invoke { tag, op }
    }
    fn ret(tag: Tag, result: OpResult<u64>) -> ClientEvent<u64> {
        ClientEvent::Return { tag, result }
    }

    /// Cycle-ordered events of three clients, with returns out of client
    /// order, a same-cycle `Unavailable`, and a pending operation.
    fn script() -> Vec<(u32, ClientId, ClientEvent<u64>)> {
        vec![
            (0, 1, inv(0, Op::Put(1, 10))),
            (2, 0, inv(0, Op::Get(1))),
            (2, 2, inv(0, Op::Insert(1, 20))),
            (4, 1, ret(0, OpResult::Ok)),
            (4, 1, inv(1, Op::Modify(1, 11))),
            (6, 0, ret(0, OpResult::Value(Some(10)))),
            (6, 2, ret(0, OpResult::Exists)),
            (6, 2, inv(1, Op::Delete(1))),
            (6, 2, ret(1, OpResult::Unavailable)),
            (8, 1, ret(1, OpResult::Modified(10))),
            (9, 0, inv(1, Op::Get(1))),
        ]
    }

    fn feed(sink: &mut HistorySink, events: &[(u32, ClientId, ClientEvent<u64>)]) {
        let mut last = None;
        for (t, c, e) in events {
            if last.is_some_and(|l| l != *t) {
                sink.end_cycle(last.unwrap()).unwrap();
            }
            last = Some(*t);
            match e {
                ClientEvent::Invoke { tag, op } => sink.invoke(*t, *c, *tag, op.clone()),
                ClientEvent::Return { tag, result } => sink.ret(*t, *c, *tag, result.clone()),
            }
        }
        sink.end_cycle(last.unwrap()).unwrap();
    }

    #[test]
    fn small_and_large_latencies_are_both_counted() {
        let mut sink = HistorySink::new(2, None);
        let put = |v| Op::Put(0, v);
        sink.invoke(0, 0, 0, put(1));
        sink.invoke(0, 1, 0, put(2));
        sink.ret(3, 0, 0, OpResult::Ok);
        sink.ret(100, 1, 0, OpResult::Ok);
        sink.invoke(100, 1, 1, put(3));
        sink.ret(103, 1, 1, OpResult::Ok);
        let stats = sink.finish().unwrap();
        assert_eq!(stats.latency, BTreeMap::from([(3, 2), (100, 1)]));
    }

    #[test]
    fn streamed_history_equals_write_jsonl() {
        let mut h = History::<u64>::new();
        for (t, c, e) in script() {
            h.record(t, c, &e);
        }
        let mut expect = Vec::new();
        write_jsonl(&h, &mut expect).unwrap();
        let out = Shared::default();
        let mut sink = HistorySink::new(3, Some(Box::new(out.clone())));
        feed(&mut sink, &script());
        let stats = sink.finish().unwrap();
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            String::from_utf8(expect).unwrap()
        );
        assert_eq!(
            (stats.invoked, stats.ok, stats.fail, stats.unavailable, stats.pending),
            (6, 3, 1, 1, 1)
        );
        assert_eq!(stats.latency, BTreeMap::from([(0, 1), (4, 4)]));
        assert_eq!(stats.latency_quantile(0.5), Some(4));
    }

    #[test]
    fn client_logs_merge_back_into_the_same_history() {
        let direct = Shared::default();
        let mut sink = HistorySink::new(3, Some(Box::new(direct.clone())));
        feed(&mut sink, &script());
        sink.finish().unwrap();
        // Each client's operations as a client process logs them.
        let mut logs: Vec<Vec<u8>> = vec![Vec::new(); 3];
        let mut pending: Vec<Option<OpRecord<u64>>> = vec![None; 3];
        for (t, c, e) in script() {
            match e {
                ClientEvent::Invoke { tag, op } => {
                    pending[c] = Some(OpRecord {
                        client: c as u16,
                        tag,
                        op,
                        invoke: t,
                        ret: None,
                    })
                }
                ClientEvent::Return { result, .. } => {
                    let mut rec = pending[c].take().unwrap();
                    rec.ret = Some(Ret { cycle: t, result });
                    serde_json::to_writer(&mut logs[c], &rec).unwrap();
                    logs[c].push(b'\n');
                }
            }
        }
        for (c, p) in pending.into_iter().enumerate() {
            if let Some(rec) = p {
                serde_json::to_writer(&mut logs[c], &rec).unwrap();
                logs[c].push(b'\n');
            }
        }
        let merged = Shared::default();
        let mut sink = HistorySink::new(3, Some(Box::new(merged.clone())));
        let readers = logs
            .iter()
            .enumerate()
            .map(|(c, l)| (format!("c{c}"), &l[..]))
            .collect();
        merge_client_logs(readers, &mut sink).unwrap();
        sink.finish().unwrap();
        assert_eq!(*merged.0.lock().unwrap(), *direct.0.lock().unwrap());
    }
}
