//! Where client events go: operation statistics and, with `--history`, the
//! JSON-lines history, streamed cycle by cycle so that a run of 10^6 cycles
//! never holds its history in memory.
//!
//! Both engines feed a [`HistorySink`] the same sequence: for each cycle in
//! order, each client's events in client order, as [`Cluster::step`] emits
//! them. The in-process engine feeds it directly; the UDP engine's client
//! processes write [`ClientLog`]s (ahead: each invocation before its request
//! is sent) that the supervisor merges back into that sequence
//! ([`merge_client_logs`]), even when a log was cut short by the death of
//! its client or an early end of the run. The sink writes exactly what
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
use serde::{Deserialize, Serialize};
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
    /// The same over the reads answered with a value (what a cache
    /// changes: a hit takes [`crate::topology::Latency::hit`] cycles).
    pub read_latency: BTreeMap<u32, u64>,
    /// Of `fail`, the operations answered `Busy` (`--queue`: the root FE's
    /// queue for their shard was full). They are not in `latency`: a busy
    /// answer takes exactly the round trip to the root FE.
    pub busy: u64,
}

impl OpStats {
    /// Returned operations, whatever the answer.
    pub fn completed(&self) -> u64 {
        self.ok + self.fail + self.unavailable
    }

    /// Reads answered with a value, and their mean latency in cycles.
    pub fn reads(&self) -> (u64, Option<f64>) {
        let n: u64 = self.read_latency.values().sum();
        let sum: u64 = self.read_latency.iter().map(|(&l, &k)| l as u64 * k).sum();
        (n, (n > 0).then(|| sum as f64 / n as f64))
    }

    /// The latency below which `q` of the returned operations (but the
    /// busy ones, not in `latency`) fall.
    pub fn latency_quantile(&self, q: f64) -> Option<u32> {
        let total: u64 = self.latency.values().sum();
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

    /// Whether the sink writes a history.
    pub fn writes_history(&self) -> bool {
        self.out.is_some()
    }

    /// The last cycle fed, if any.
    pub fn last_cycle(&self) -> Option<u32> {
        self.cycle
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
            OpResult::Busy => {
                self.stats.fail += 1;
                self.stats.busy += 1;
            }
            _ => self.stats.ok += 1,
        }
        let latency = cycle - rec.invoke;
        let counted = result != OpResult::Busy;
        if let (Op::Get(_), OpResult::Value(_)) = (&rec.op, &result) {
            *self.stats.read_latency.entry(latency).or_insert(0) += 1;
        }
        match self.small_latency.get_mut(latency as usize) {
            _ if !counted => {}
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

/// One line of a [`ClientLog`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum LogLine {
    /// The client started an operation: written before the frame carrying
    /// the request leaves the process.
    Invoke {
        cycle: u32,
        client: u16,
        tag: Tag,
        op: Op<u64>,
    },
    /// The operation in flight (of tag `tag`) returned.
    Return {
        cycle: u32,
        tag: Tag,
        result: OpResult<u64>,
    },
}

impl LogLine {
    fn cycle(&self) -> u32 {
        match self {
            LogLine::Invoke { cycle, .. } | LogLine::Return { cycle, .. } => *cycle,
        }
    }
}

/// One client's operations as a client process of the UDP engine records
/// them: one JSON [`LogLine`] per event, in the order of the events.
///
/// **Write-ahead.** [`ClientLog::event`] only formats the line; the node
/// calls [`ClientLog::commit`] once per cycle, after the client's step and
/// *before* it sends the frames of that step, and `commit` hands the cycle's
/// lines to the kernel in one `write(2)`. So every request that left the
/// process was already in the file (the page cache survives the death of
/// the process; no `fsync` is needed for that), and a log cut anywhere (the
/// client killed, the run ended early) is a prefix of what the client did:
/// an invocation without its return is an operation whose outcome is
/// unknown, never one that is missing. A process killed inside a `write`
/// leaves at most a torn last line, without its newline, whose frame was
/// never sent: [`merge_client_logs`] drops it.
pub struct ClientLog<W: Write> {
    out: W,
    /// This cycle's lines, not yet written.
    buf: Vec<u8>,
    /// The tag of the operation in flight.
    pending: Option<Tag>,
    client: u16,
}

impl<W: Write> ClientLog<W> {
    pub fn new(client: ClientId, out: W) -> Self {
        ClientLog {
            out,
            buf: Vec::with_capacity(256),
            pending: None,
            client: client as u16,
        }
    }

    /// Records one of the client's events (in memory until [`ClientLog::commit`]).
    pub fn event(&mut self, cycle: u32, event: &ClientEvent<Value>) {
        let line = match event {
            ClientEvent::Invoke { tag, op } => {
                assert!(self.pending.is_none(), "a client has one operation in flight");
                self.pending = Some(*tag);
                LogLine::Invoke {
                    cycle,
                    client: self.client,
                    tag: *tag,
                    op: op_ids(op),
                }
            }
            ClientEvent::Return { tag, result } => {
                assert_eq!(self.pending.take(), Some(*tag), "a return matches the invocation");
                LogLine::Return {
                    cycle,
                    tag: *tag,
                    result: result_ids(result),
                }
            }
        };
        serde_json::to_writer(&mut self.buf, &line).expect("a log line serializes");
        self.buf.push(b'\n');
    }

    /// Writes the lines recorded since the last commit, if any, in one
    /// `write_all` (one `write(2)` on a file, barring a short write). Called
    /// before the frames that carry this cycle's requests are sent.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Commits what is left and flushes the writer.
    pub fn finish(mut self) -> io::Result<()> {
        self.commit()?;
        self.out.flush()
    }
}

/// A client log being read back: its next line.
struct LogCursor<R: BufRead> {
    input: R,
    next: Option<LogLine>,
    name: String,
    /// The number of the line in `next` (of the last line read).
    line: usize,
    raw: Vec<u8>,
    /// A torn last line was dropped: its number and length.
    torn: Option<(usize, usize)>,
}

impl<R: BufRead> LogCursor<R> {
    fn bad(&self, what: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} line {}: {what}", self.name, self.line),
        )
    }

    /// Reads the next line. A line without its newline can only be the
    /// last (it ends the file): the process died while writing it, before
    /// sending anything it records, so it is dropped (and noted). Any other
    /// line that does not parse is an error.
    fn advance(&mut self) -> io::Result<()> {
        self.next = None;
        loop {
            self.raw.clear();
            if self.input.read_until(b'\n', &mut self.raw)? == 0 {
                return Ok(());
            }
            self.line += 1;
            if self.raw.last() != Some(&b'\n') {
                self.torn = Some((self.line, self.raw.len()));
                return Ok(());
            }
            if self.raw.trim_ascii().is_empty() {
                continue;
            }
            let line = serde_json::from_slice(&self.raw).map_err(|e| self.bad(e))?;
            self.next = Some(line);
            return Ok(());
        }
    }

    /// The cycle of this log's next event.
    fn next_cycle(&self) -> Option<u32> {
        self.next.as_ref().map(LogLine::cycle)
    }
}

/// Merges the clients' logs (`logs[c]` for client `c`, with a name for
/// error messages) into `sink`, in the order the in-process engine feeds it.
/// A log may end anywhere (its client died, or the run was cut): its last
/// invocation, if it has no return, stays pending. Returns a note for each
/// torn last line dropped. A malformed line elsewhere, an event of another
/// client, a return that matches no invocation, an invocation while one is
/// in flight, or cycles going back is an error naming the file and line.
pub fn merge_client_logs<R: BufRead>(logs: Vec<(String, R)>, sink: &mut HistorySink) -> io::Result<Vec<String>> {
    let mut cursors = Vec::with_capacity(logs.len());
    for (name, input) in logs {
        let mut c = LogCursor {
            input,
            next: None,
            name,
            line: 0,
            raw: Vec::new(),
            torn: None,
        };
        c.advance()?;
        cursors.push(c);
    }
    let mut in_flight: Vec<Option<Tag>> = vec![None; cursors.len()];
    while let Some(t) = cursors.iter().filter_map(LogCursor::next_cycle).min() {
        for (client, c) in cursors.iter_mut().enumerate() {
            // A client's events in one cycle: the return of its operation in
            // flight, then a new invocation, then (upstream dead) its return.
            while c.next_cycle() == Some(t) {
                match c.next.take().expect("next_cycle is Some") {
                    LogLine::Invoke { client: k, tag, op, .. } => {
                        if k as usize != client {
                            return Err(c.bad(format!("an operation of client {k} in the log of client {client}")));
                        }
                        if let Some(busy) = in_flight[client] {
                            return Err(c.bad(format!("invokes tag {tag} while tag {busy} is in flight")));
                        }
                        in_flight[client] = Some(tag);
                        sink.invoke(t, client, tag, op);
                    }
                    LogLine::Return { tag, result, .. } => {
                        if in_flight[client] != Some(tag) {
                            return Err(c.bad(format!("returns tag {tag}, which is not in flight")));
                        }
                        in_flight[client] = None;
                        sink.ret(t, client, tag, result);
                    }
                }
                c.advance()?;
                if let Some(n) = c.next_cycle().filter(|&n| n < t) {
                    return Err(c.bad(format!("cycle {n} goes back from {t}")));
                }
            }
        }
        sink.end_cycle(t)?;
    }
    Ok(cursors
        .iter()
        .filter_map(|c| {
            c.torn.map(|(line, bytes)| {
                format!(
                    "{} line {line}: a torn last line ({bytes} bytes, no newline) dropped: its process died while writing it, before sending what it records",
                    c.name
                )
            })
        })
        .collect())
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

    /// A client event of the script with real values (ids as given).
    fn valued(e: &ClientEvent<u64>) -> ClientEvent<Value> {
        let v = |id: &u64| Value::new(*id, 8);
        match e {
            ClientEvent::Invoke { tag, op } => ClientEvent::Invoke {
                tag: *tag,
                op: op.map_value(v),
            },
            ClientEvent::Return { tag, result } => ClientEvent::Return {
                tag: *tag,
                result: result.map_value(v),
            },
        }
    }

    /// Each client's log of `events` as a client process writes it, with the
    /// number of writes it made to its file.
    fn client_logs(clients: usize, events: &[(u32, ClientId, ClientEvent<u64>)]) -> Vec<(Vec<u8>, usize)> {
        /// Counts the writes made to it.
        #[derive(Clone, Default)]
        struct Counted(Shared, Arc<Mutex<usize>>);
        impl Write for Counted {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                *self.1.lock().unwrap() += 1;
                self.0.write(b)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        (0..clients)
            .map(|c| {
                let out = Counted::default();
                let mut log = ClientLog::new(c, out.clone());
                let mut last = None;
                for (t, _, e) in events.iter().filter(|(_, k, _)| *k == c) {
                    // A cycle's lines are committed together, at its end.
                    if last.is_some_and(|l| l != *t) {
                        log.commit().unwrap();
                    }
                    last = Some(*t);
                    log.event(*t, &valued(e));
                }
                log.commit().unwrap();
                let bytes = out.0 .0.lock().unwrap().clone();
                let writes = *out.1.lock().unwrap();
                (bytes, writes)
            })
            .collect()
    }

    /// Merges `logs` into a history; returns it and the merge's notes.
    fn merge(logs: &[&[u8]]) -> io::Result<(String, Vec<String>)> {
        let merged = Shared::default();
        let mut sink = HistorySink::new(logs.len(), Some(Box::new(merged.clone())));
        let readers = logs.iter().enumerate().map(|(c, l)| (format!("c{c}"), *l)).collect();
        let notes = merge_client_logs(readers, &mut sink)?;
        sink.finish()?;
        let text = String::from_utf8(merged.0.lock().unwrap().clone()).unwrap();
        Ok((text, notes))
    }

    #[test]
    fn client_logs_merge_back_into_the_same_history() {
        let direct = Shared::default();
        let mut sink = HistorySink::new(3, Some(Box::new(direct.clone())));
        feed(&mut sink, &script());
        sink.finish().unwrap();
        let logs = client_logs(3, &script());
        // One write per cycle with events: c2's return, invocation and
        // same-cycle return of cycle 6 go in one.
        let writes: Vec<usize> = logs.iter().map(|(_, w)| *w).collect();
        assert_eq!(writes, [3, 3, 2]);
        let bytes: Vec<&[u8]> = logs.iter().map(|(l, _)| &l[..]).collect();
        let (merged, notes) = merge(&bytes).unwrap();
        assert_eq!(merged.as_bytes(), &direct.0.lock().unwrap()[..]);
        assert!(notes.is_empty(), "{notes:?}");
    }

    /// The write-ahead rule: an invocation is in the file once its cycle is
    /// committed, before its return exists (the old log wrote an operation
    /// only when it returned, from a 64 KB buffer).
    #[test]
    fn a_client_log_holds_an_invocation_as_soon_as_its_cycle_is_committed() {
        let out = Shared::default();
        let mut log = ClientLog::new(1, out.clone());
        log.event(0, &valued(&inv(0, Op::Put(1, 10))));
        assert!(out.0.lock().unwrap().is_empty(), "nothing is written before the commit");
        log.commit().unwrap();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            written,
            "{\"invoke\":{\"cycle\":0,\"client\":1,\"tag\":0,\"op\":{\"Put\":[1,10]}}}\n"
        );
        // A commit with nothing new writes nothing.
        log.commit().unwrap();
        assert_eq!(out.0.lock().unwrap().len(), written.len());
    }

    /// A log cut after an invocation (its client was killed, or the run
    /// ended early) gives a history with that operation pending: an
    /// invocation without completion, which `verify` reads as of unknown
    /// outcome (it may or may not have taken effect).
    #[test]
    fn a_log_that_ends_after_an_invocation_leaves_it_pending() {
        // Client 1 dies after invoking its Modify at cycle 4.
        let events: Vec<_> = script().into_iter().filter(|(t, c, _)| *c != 1 || *t <= 4).collect();
        let logs = client_logs(3, &events);
        let bytes: Vec<&[u8]> = logs.iter().map(|(l, _)| &l[..]).collect();
        let (text, notes) = merge(&bytes).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let h: History<u64> = crate::history::read_jsonl(text.as_bytes()).unwrap();
        let c1: Vec<&OpRecord<u64>> = h.ops.iter().filter(|o| o.client == 1).collect();
        assert_eq!(c1.len(), 2);
        assert!(c1[0].ret.is_some());
        assert_eq!(
            (c1[1].op.clone(), c1[1].invoke, c1[1].ret.clone()),
            (Op::Modify(1, 11), 4, None)
        );
        assert_eq!(c1[1].outcome(), crate::history::Outcome::Info);
        // The other clients' operations are all there, after it too.
        assert_eq!(h.ops.len(), 6);
        assert_eq!(h.ops.iter().map(|o| o.invoke).max(), Some(9));
    }

    /// A process killed inside its write leaves a last line without its
    /// newline: dropped, and noted; the operation before it stays.
    #[test]
    fn a_torn_last_line_is_dropped_and_noted() {
        let logs = client_logs(3, &script());
        let mut c0 = logs[0].0.clone();
        let full = c0.len();
        // c0 dies while writing cycle 11's invocation: half of the line.
        let line = b"{\"invoke\":{\"cycle\":11,\"client\":0,\"tag\":2,\"op\":{\"Get\":1}}}\n";
        // Its return of cycle 11 before it, whole, in the same write.
        let ret = b"{\"return\":{\"cycle\":11,\"tag\":1,\"result\":{\"Value\":null}}}\n";
        c0.extend_from_slice(ret);
        c0.extend_from_slice(&line[..line.len() / 2]);
        let (text, notes) = merge(&[&c0, &logs[1].0, &logs[2].0]).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("c0 line 5: a torn last line (29 bytes, no newline) dropped"),
            "{notes:?}"
        );
        let h: History<u64> = crate::history::read_jsonl(text.as_bytes()).unwrap();
        let c0_ops: Vec<&OpRecord<u64>> = h.ops.iter().filter(|o| o.client == 0).collect();
        assert_eq!(c0_ops.len(), 2, "the torn invocation is not in the history");
        assert_eq!(c0_ops[1].ret.as_ref().map(|r| r.cycle), Some(11));
        // Even a line that is whole but for its newline was cut in its write.
        c0.truncate(full);
        c0.extend_from_slice(&line[..line.len() - 1]);
        let (_, notes) = merge(&[&c0, &logs[1].0, &logs[2].0]).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    /// A bad line anywhere but at the very end (with its newline: more
    /// followed it) is an error naming the file and the line.
    #[test]
    fn a_torn_or_bad_line_in_the_middle_is_an_error_naming_the_line() {
        let logs = client_logs(3, &script());
        let lines: Vec<&[u8]> = logs[1].0.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        let cut = |i: usize, with: &[u8]| -> Vec<u8> {
            let mut l: Vec<u8> = Vec::new();
            for (j, line) in lines.iter().enumerate() {
                l.extend_from_slice(if i == j { with } else { line });
            }
            l
        };
        let err = |log: Vec<u8>| merge(&[&logs[0].0, &log, &logs[2].0]).unwrap_err().to_string();
        // Torn, then more lines: not a death in a write.
        let torn = cut(1, &[&lines[1][..lines[1].len() / 2], b"\n"].concat());
        let e = err(torn);
        assert!(e.starts_with("c1 line 2: "), "torn middle line: {e}");
        let e = err(cut(2, b"{\"invoke\":{\"cycle\":4}}\n"));
        assert!(e.starts_with("c1 line 3: missing field"), "{e}");
        let e = err(cut(
            0,
            b"{\"invoke\":{\"cycle\":0,\"client\":2,\"tag\":0,\"op\":{\"Get\":1}}}\n",
        ));
        assert_eq!(e, "c1 line 1: an operation of client 2 in the log of client 1");
        let e = err(cut(3, b"{\"return\":{\"cycle\":8,\"tag\":7,\"result\":\"Ok\"}}\n"));
        assert_eq!(e, "c1 line 4: returns tag 7, which is not in flight");
        let e = err(cut(
            1,
            b"{\"invoke\":{\"cycle\":4,\"client\":1,\"tag\":1,\"op\":{\"Get\":1}}}\n",
        ));
        assert_eq!(e, "c1 line 2: invokes tag 1 while tag 0 is in flight");
        let e = err(cut(3, b"{\"return\":{\"cycle\":3,\"tag\":1,\"result\":\"Ok\"}}\n"));
        assert_eq!(e, "c1 line 4: cycle 3 goes back from 4");
    }
}
