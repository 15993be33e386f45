//! Client-observed histories: what every client invoked, and when and how it
//! returned, in cycles. The model keeps one in its state; the runtime writes
//! one as JSON lines ([`write_jsonl`]) that `tidekv verify` reads back
//! ([`read_jsonl`]).
//!
//! # Time
//! Within a cycle, every response a client reads comes before every request a
//! client sends, so an operation invoked at cycle `t` is after every operation
//! that returned at `t`. [`OpRecord::invoke_time`] and
//! [`OpRecord::return_time`] encode that order as integers.

use crate::node::client::ClientEvent;
use crate::node::{ClientId, Key, Op, OpResult, Tag, Val};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::io::{BufRead, Write};

/// How an operation returned.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Ret<V> {
    pub cycle: u32,
    pub result: OpResult<V>,
}

/// One operation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct OpRecord<V> {
    pub client: u16,
    pub tag: Tag,
    pub op: Op<V>,
    /// The cycle the request was sent.
    pub invoke: u32,
    /// `None` while pending.
    pub ret: Option<Ret<V>>,
}

/// The Jepsen completion type of an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Took effect, with this result.
    Ok,
    /// Did not take effect: a conditional op's condition failed, or the
    /// request was never sent (answered `Unavailable` by the client itself
    /// in the cycle it was invoked).
    Fail,
    /// Unknown: `Unavailable`, or no response.
    Info,
}

impl<V: Val> OpRecord<V> {
    /// Position of the invocation in the total order of events.
    pub fn invoke_time(&self) -> u64 {
        3 * self.invoke as u64 + 1
    }

    /// Position of the return in the total order of events; `None` while
    /// pending. A return in the invoking cycle (a client answering
    /// `Unavailable` itself) comes right after the invocation.
    pub fn return_time(&self) -> Option<u64> {
        self.ret
            .as_ref()
            .map(|r| 3 * r.cycle as u64 + if r.cycle == self.invoke { 2 } else { 0 })
    }

    /// ok / fail / info. A request answered `Unavailable` in the cycle it
    /// was invoked was never sent (the client answers so itself when its
    /// upstream is dead; any other answer takes a cycle at least): `fail`.
    pub fn outcome(&self) -> Outcome {
        match &self.ret {
            None => Outcome::Info,
            Some(Ret {
                result: OpResult::Unavailable,
                cycle,
            }) if *cycle == self.invoke => Outcome::Fail,
            Some(Ret {
                result: OpResult::Unavailable,
                ..
            }) => Outcome::Info,
            Some(Ret {
                result: OpResult::Exists | OpResult::Absent | OpResult::Busy,
                ..
            }) => Outcome::Fail,
            Some(_) => Outcome::Ok,
        }
    }

    /// Latency in cycles, if returned.
    pub fn latency(&self) -> Option<u32> {
        self.ret.as_ref().map(|r| r.cycle - self.invoke)
    }
}

/// A history: operations in invocation order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct History<V> {
    pub ops: Vec<OpRecord<V>>,
}

impl<V: Val> History<V> {
    pub fn new() -> Self {
        History { ops: Vec::new() }
    }

    /// Records a client's events of one cycle.
    pub fn record(&mut self, cycle: u32, client: ClientId, event: &ClientEvent<V>) {
        match event {
            ClientEvent::Invoke { tag, op } => self.ops.push(OpRecord {
                client: client as u16,
                tag: *tag,
                op: op.clone(),
                invoke: cycle,
                ret: None,
            }),
            ClientEvent::Return { tag, result } => {
                let rec = self
                    .ops
                    .iter_mut()
                    .rev()
                    .find(|o| o.client as usize == client && o.tag == *tag)
                    .expect("a return matches an invocation");
                debug_assert!(rec.ret.is_none(), "an operation returns once");
                rec.ret = Some(Ret {
                    cycle,
                    result: result.clone(),
                });
            }
        }
    }

    /// Operations still pending.
    pub fn pending(&self) -> impl Iterator<Item = &OpRecord<V>> {
        self.ops.iter().filter(|o| o.ret.is_none())
    }
}

/// A JSON history event, as written by [`write_jsonl`].
pub fn event_json<V: Val>(index: u64, time: u64, rec: &OpRecord<V>, completion: bool) -> Json {
    let (ty, value, previous) = if !completion {
        ("invoke", rec.op.value().map(|v| json!(v)).unwrap_or(Json::Null), None)
    } else {
        let ty = match rec.outcome() {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let value = match rec.ret.as_ref().map(|r| &r.result) {
            Some(OpResult::Value(v)) => json!(v),
            _ => rec.op.value().map(|v| json!(v)).unwrap_or(Json::Null),
        };
        let previous = match rec.ret.as_ref().map(|r| &r.result) {
            Some(OpResult::Modified(p)) => Some(json!(p)),
            _ => None,
        };
        (ty, value, previous)
    };
    let cycle = if completion {
        rec.ret.as_ref().map(|r| r.cycle).unwrap_or(rec.invoke)
    } else {
        rec.invoke
    };
    let mut ev = json!({
        "index": index, "type": ty, "process": rec.client, "f": rec.op.name(),
        "key": rec.op.key(), "value": value, "cycle": cycle, "time": time, "tag": rec.tag,
    });
    if let Some(p) = previous {
        ev["previous"] = p;
    }
    if completion && matches!(rec.ret.as_ref().map(|r| &r.result), Some(OpResult::Unavailable)) {
        ev["error"] = json!("unavailable");
    }
    if completion && matches!(rec.ret.as_ref().map(|r| &r.result), Some(OpResult::Busy)) {
        ev["error"] = json!("busy");
    }
    ev
}

/// Writes a history as JSON lines, events in time order. Pending operations
/// get only their invocation (Jepsen reads that as indeterminate).
pub fn write_jsonl<V: Val>(history: &History<V>, mut out: impl Write) -> std::io::Result<()> {
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(history.ops.len() * 2);
    for (i, rec) in history.ops.iter().enumerate() {
        events.push((rec.invoke_time(), i, false));
        if let Some(t) = rec.return_time() {
            events.push((t, i, true));
        }
    }
    events.sort_unstable();
    for (index, (time, i, completion)) in events.into_iter().enumerate() {
        let ev = event_json(index as u64, time, &history.ops[i], completion);
        serde_json::to_writer(&mut out, &ev)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A history file that cannot be read; the message names the line.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {msg}")]
    Bad { line: usize, msg: String },
    #[error("history is empty: no operations")]
    Empty,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How [`read_jsonl_ids`] renamed what a file holds to fit a [`History`]:
/// `None` where the file's own numbers are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renamed {
    /// The file's process ids, indexed by the client number they got (in
    /// order of first appearance), when some id does not fit below 65,535.
    pub processes: Option<Vec<u64>>,
    /// The file's keys, indexed by the key number they got (in order of first
    /// appearance), when some key is 2^32 or more.
    pub keys: Option<Vec<u64>>,
    /// The file's first cycle, subtracted from every cycle, when some cycle is
    /// 2^32 or more.
    pub cycle_base: Option<u64>,
}

/// Reads a JSON-lines history. Each completion is paired with the latest
/// invocation of its process; an invocation without completion is pending.
pub fn read_jsonl<V: Val>(input: impl BufRead) -> Result<History<V>, HistoryError> {
    read_jsonl_ids(input).map(|(h, _)| h)
}

/// A line of the file, checked on its own.
struct Line<V> {
    line: usize,
    process: u64,
    key: u64,
    cycle: u64,
    tag: Option<u64>,
    event: Event<V>,
}

enum Event<V> {
    Invoke(Op<()>, Option<V>),
    /// A completion: its type and `f`; its `value` where it matters (a
    /// `Get`'s answer, or a write's value: `None` when missing, `Some(None)`
    /// for null); the `previous` value of a `Modify` answered ok; whether it
    /// says `"error": "unavailable"`. Parsed here, so that the file's JSON is
    /// not kept.
    Complete(&'static str, &'static str, Option<Option<V>>, Option<V>, bool, bool),
}

/// Largest client number a history can hold: `u16::MAX` is reserved (the
/// checks use it for the initial value of a key).
const PROCESS_MAX: u64 = u16::MAX as u64 - 1;

/// Reads a JSON-lines history, checking every field: numbers at full width
/// (process ids and keys that do not fit a [`History`] are renumbered, cycles
/// of 2^32 or more are counted from the first, as [`Renamed`] says), `index`
/// increasing and `time` never going back, `cycle` never going back, each
/// completion matching its invocation. Any inconsistency is an error naming
/// the line; so is a file with no operation ([`HistoryError::Empty`]).
pub fn read_jsonl_ids<V: Val>(input: impl BufRead) -> Result<(History<V>, Renamed), HistoryError> {
    let mut builder = Builder {
        history: History::new(),
        processes: Numbering::default(),
        keys: Numbering::default(),
        first_cycle: None,
        cycle_base: None,
        open: HashMap::new(),
        tags: Default::default(),
        same_cycle: HashMap::new(),
    };
    read_lines(input, &mut |line| builder.add(line))?;
    builder.finish()
}

/// Checks each line on its own, handing it to `add`.
fn read_lines<V: Val>(
    input: impl BufRead,
    add: &mut impl FnMut(Line<V>) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let (mut last_index, mut last_time, mut last_cycle) = (None::<u64>, None::<u64>, None::<u64>);
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| HistoryError::Bad { line: lineno, msg };
        let ev: Json = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if !ev.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        let field = |k: &str| ev.get(k).ok_or_else(|| bad(format!("missing field {k:?}")));
        let number = |k: &str| {
            field(k)?
                .as_u64()
                .ok_or_else(|| bad(format!("{k:?} is not an integer in 0..2^64")))
        };
        let optional = |k: &str| match ev.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(_) => number(k).map(Some),
        };
        let text = |k: &str| field(k)?.as_str().ok_or_else(|| bad(format!("{k:?} is not a string")));
        let ty = text("type")?;
        let process = number("process")?;
        let cycle = number("cycle")?;
        let f = text("f")?;
        let key = number("key")?;
        let tag = optional("tag")?;
        if let Some(index) = optional("index")? {
            if let Some(last) = last_index.filter(|l| index <= *l) {
                return Err(bad(format!("index {index} does not follow index {last}")));
            }
            last_index = Some(index);
        }
        if let Some(time) = optional("time")? {
            if let Some(last) = last_time.filter(|l| time < *l) {
                return Err(bad(format!("time {time} goes back from {last}")));
            }
            last_time = Some(time);
        }
        if let Some(last) = last_cycle.filter(|l| cycle < *l) {
            return Err(bad(format!("cycle {cycle} goes back from {last}")));
        }
        last_cycle = Some(cycle);
        let value = |k: &str| -> Result<V, HistoryError> {
            serde_json::from_value(field(k)?.clone()).map_err(|e| bad(format!("{k}: {e}")))
        };
        let event = match ty {
            "invoke" => {
                let (op, v) = match f {
                    "get" => (Op::Get(0), None),
                    "put" => (Op::Put(0, ()), Some(value("value")?)),
                    "delete" => (Op::Delete(0), None),
                    "insert" => (Op::Insert(0, ()), Some(value("value")?)),
                    "modify" => (Op::Modify(0, ()), Some(value("value")?)),
                    other => return Err(bad(format!("unknown f {other:?}"))),
                };
                Event::Invoke(op, v)
            }
            "ok" | "fail" | "info" => {
                let ty = match ty {
                    "ok" => "ok",
                    "fail" => "fail",
                    _ => "info",
                };
                let f = match f {
                    "get" => "get",
                    "put" => "put",
                    "delete" => "delete",
                    "insert" => "insert",
                    "modify" => "modify",
                    other => return Err(bad(format!("unknown f {other:?}"))),
                };
                let value = match ev.get("value") {
                    Some(j) if f != "delete" && (f != "get" || ty == "ok") && !j.is_null() => Some(Some(
                        serde_json::from_value(j.clone()).map_err(|e| bad(format!("value: {e}")))?,
                    )),
                    Some(_) => Some(None),
                    None => None,
                };
                let previous = match (ty, f, ev.get("previous")) {
                    ("ok", "modify", Some(j)) if !j.is_null() => {
                        Some(serde_json::from_value(j.clone()).map_err(|e| bad(format!("previous: {e}")))?)
                    }
                    _ => None,
                };
                let error = ev.get("error").and_then(Json::as_str);
                let unavailable = error == Some("unavailable");
                let busy = error == Some("busy");
                Event::Complete(ty, f, value, previous, unavailable, busy)
            }
            other => return Err(bad(format!("unknown type {other:?}"))),
        };
        add(Line {
            line: lineno,
            process,
            key,
            cycle,
            tag,
            event,
        })?;
    }
    Ok(())
}

/// Numbers kept as they are while all fit below `max`; from the first that
/// does not, every number renumbered densely in order of first appearance.
#[derive(Default)]
struct Numbering {
    dense: Option<(Vec<u64>, HashMap<u64, u64>)>,
}

impl Numbering {
    /// The number of `x`; `seen` lists the numbers given so far in order of
    /// first appearance (they are `x`s that fit), for the switch to dense
    /// numbers, after which the caller renumbers what it holds with
    /// [`Numbering::get`].
    fn number(&mut self, x: u64, max: u64, seen: impl FnOnce() -> Vec<u64>) -> (u64, bool) {
        let mut switched = false;
        if self.dense.is_none() {
            if x <= max {
                return (x, false);
            }
            let mut d = (Vec::new(), HashMap::new());
            for y in seen() {
                Self::insert(&mut d, y);
            }
            self.dense = Some(d);
            switched = true;
        }
        let d = self.dense.as_mut().expect("dense numbers");
        (Self::insert(d, x), switched)
    }

    fn insert((names, number): &mut (Vec<u64>, HashMap<u64, u64>), x: u64) -> u64 {
        *number.entry(x).or_insert_with(|| {
            names.push(x);
            names.len() as u64 - 1
        })
    }

    /// The dense number of an `x` already numbered.
    fn get(&self, x: u64) -> u64 {
        self.dense.as_ref().map_or(x, |(_, number)| number[&x])
    }
}

/// Builds the history line by line.
struct Builder<V> {
    history: History<V>,
    processes: Numbering,
    keys: Numbering,
    first_cycle: Option<u64>,
    cycle_base: Option<u64>,
    /// Per process (as in the file): its operation in flight.
    open: HashMap<u64, usize>,
    tags: std::collections::HashSet<(u64, u32)>,
    /// Per process: the cycle its last operation was both invoked and
    /// completed in, which it cannot invoke in again.
    same_cycle: HashMap<u64, u64>,
}

/// The same operation on another key.
fn with_key<V: Val>(op: &Op<V>, key: Key) -> Op<V> {
    match op {
        Op::Get(_) => Op::Get(key),
        Op::Put(_, v) => Op::Put(key, v.clone()),
        Op::Delete(_) => Op::Delete(key),
        Op::Insert(_, v) => Op::Insert(key, v.clone()),
        Op::Modify(_, v) => Op::Modify(key, v.clone()),
    }
}

/// Distinct values in order of first appearance.
fn first_seen(xs: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    xs.filter(|x| seen.insert(*x)).collect()
}

impl<V: Val> Builder<V> {
    fn client(&mut self, l: &Line<V>) -> Result<u16, HistoryError> {
        let ops = &self.history.ops;
        let (n, switched) = self.processes.number(l.process, PROCESS_MAX, || {
            first_seen(ops.iter().map(|o| o.client as u64))
        });
        if switched {
            for o in self.history.ops.iter_mut() {
                o.client = self.processes.get(o.client as u64) as u16;
            }
        }
        if n > PROCESS_MAX {
            return Err(HistoryError::Bad {
                line: l.line,
                msg: format!("more than {} distinct processes", PROCESS_MAX + 1),
            });
        }
        Ok(n as u16)
    }

    fn key(&mut self, l: &Line<V>) -> Key {
        let ops = &self.history.ops;
        let (n, switched) = self.keys.number(l.key, u32::MAX as u64, || {
            first_seen(ops.iter().map(|o| o.op.key() as u64))
        });
        if switched {
            for o in self.history.ops.iter_mut() {
                o.op = with_key(&o.op, self.keys.get(o.op.key() as u64) as Key);
            }
        }
        n as Key
    }

    fn cycle(&mut self, l: &Line<V>) -> Result<u32, HistoryError> {
        let first = *self.first_cycle.get_or_insert(l.cycle);
        if self.cycle_base.is_none() && l.cycle > u32::MAX as u64 {
            self.cycle_base = Some(first);
            let base = first as u32; // fits: every cycle so far did
            for o in self.history.ops.iter_mut() {
                o.invoke -= base;
                if let Some(r) = o.ret.as_mut() {
                    r.cycle -= base;
                }
            }
        }
        let base = self.cycle_base.unwrap_or(0);
        u32::try_from(l.cycle - base).map_err(|_| HistoryError::Bad {
            line: l.line,
            msg: format!("cycle {} is 2^32 or more cycles after the first cycle {base}", l.cycle),
        })
    }

    /// Adds one checked line.
    fn add(&mut self, l: Line<V>) -> Result<(), HistoryError> {
        let bad = |msg: String| HistoryError::Bad { line: l.line, msg };
        let client = self.client(&l)?;
        let key = self.key(&l);
        let cycle = self.cycle(&l)?;
        let tag = l
            .tag
            .map(|t| u32::try_from(t).map_err(|_| bad(format!("tag {t} is 2^32 or more"))))
            .transpose()?;
        let history = &mut self.history;
        match &l.event {
            Event::Invoke(op, v) => {
                if self.open.contains_key(&l.process) {
                    return Err(bad(format!("process {} invoked twice without completing", l.process)));
                }
                if self.same_cycle.get(&l.process) == Some(&l.cycle) {
                    return Err(bad(format!(
                        "process {} invokes again in cycle {}, in which its previous operation was invoked and completed",
                        l.process, l.cycle
                    )));
                }
                let v = || v.clone().expect("a write's value was read");
                let op = match op {
                    Op::Get(_) => Op::Get(key),
                    Op::Put(..) => Op::Put(key, v()),
                    Op::Delete(_) => Op::Delete(key),
                    Op::Insert(..) => Op::Insert(key, v()),
                    Op::Modify(..) => Op::Modify(key, v()),
                };
                let tag = match tag {
                    Some(t) => t,
                    None => u32::try_from(history.ops.len())
                        .map_err(|_| bad("more than 2^32 operations without tags".into()))?,
                };
                if !self.tags.insert((l.process, tag)) {
                    return Err(bad(format!("process {} reuses tag {tag}", l.process)));
                }
                self.open.insert(l.process, history.ops.len());
                history.ops.push(OpRecord {
                    client,
                    tag,
                    op,
                    invoke: cycle,
                    ret: None,
                });
            }
            Event::Complete(ty, f, value, previous, unavailable, busy) => {
                let i = self
                    .open
                    .remove(&l.process)
                    .ok_or_else(|| bad(format!("process {} completes nothing", l.process)))?;
                let rec = &mut history.ops[i];
                if rec.op.name() != *f {
                    return Err(bad(format!("completion {f:?} for an invoked {:?}", rec.op.name())));
                }
                if rec.op.key() != key {
                    return Err(bad(format!(
                        "completion for key {} of an operation on another key",
                        l.key
                    )));
                }
                if tag.is_some_and(|t| t != rec.tag) {
                    return Err(bad(format!(
                        "completion tag {} for an invocation tagged {}",
                        l.tag.unwrap_or(0),
                        rec.tag
                    )));
                }
                if let (Some(v), Some(Some(value))) = (rec.op.value(), value) {
                    if value != v {
                        return Err(bad(format!("completion value {value:?} differs from the invoked one")));
                    }
                }
                let missing = |k: &str| bad(format!("missing field {k:?}"));
                let result = match (*ty, &rec.op) {
                    ("info", _) => OpResult::Unavailable,
                    // Never sent: answered by the client in its invoking cycle.
                    ("fail", _) if *unavailable && cycle == rec.invoke => OpResult::Unavailable,
                    ("fail", _) if *unavailable => {
                        return Err(bad(format!(
                            "a request failed as unavailable (never sent) completes in the cycle it was invoked, {}",
                            rec.invoke
                        )))
                    }
                    // A full FE queue: never sent, did not take effect.
                    ("fail", _) if *busy => OpResult::Busy,
                    ("ok", Op::Get(_)) => OpResult::Value(value.clone().ok_or_else(|| missing("value"))?),
                    ("ok", Op::Modify(..)) => OpResult::Modified(previous.clone().ok_or_else(|| missing("previous"))?),
                    ("ok", _) => OpResult::Ok,
                    ("fail", Op::Insert(..)) => OpResult::Exists,
                    ("fail", Op::Modify(..)) => OpResult::Absent,
                    (_, op) => return Err(bad(format!("{} cannot fail", op.name()))),
                };
                if cycle == rec.invoke {
                    self.same_cycle.insert(l.process, l.cycle);
                }
                rec.ret = Some(Ret { cycle, result });
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(History<V>, Renamed), HistoryError> {
        if self.history.ops.is_empty() {
            return Err(HistoryError::Empty);
        }
        let renamed = Renamed {
            processes: self.processes.dense.map(|(names, _)| names),
            keys: self.keys.dense.map(|(names, _)| names),
            cycle_base: self.cycle_base,
        };
        Ok((self.history, renamed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips() {
        let mut h = History::<u64>::new();
        h.record(
            0,
            0,
            &ClientEvent::Invoke {
                tag: 0,
                op: Op::Insert(1, 5),
            },
        );
        h.record(0, 1, &ClientEvent::Invoke { tag: 0, op: Op::Get(1) });
        h.record(
            4,
            0,
            &ClientEvent::Return {
                tag: 0,
                result: OpResult::Ok,
            },
        );
        h.record(
            4,
            0,
            &ClientEvent::Invoke {
                tag: 1,
                op: Op::Modify(1, 6),
            },
        );
        h.record(
            4,
            1,
            &ClientEvent::Return {
                tag: 0,
                result: OpResult::Value(None),
            },
        );
        h.record(
            8,
            0,
            &ClientEvent::Return {
                tag: 1,
                result: OpResult::Modified(5),
            },
        );
        h.record(
            8,
            1,
            &ClientEvent::Invoke {
                tag: 1,
                op: Op::Delete(1),
            },
        );
        h.record(
            8,
            1,
            &ClientEvent::Return {
                tag: 1,
                result: OpResult::Unavailable,
            },
        );
        h.record(
            9,
            0,
            &ClientEvent::Invoke {
                tag: 2,
                op: Op::Insert(1, 7),
            },
        );
        let mut buf = Vec::new();
        write_jsonl(&h, &mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.lines().next().unwrap().contains(r#""type":"invoke""#));
        // The Delete answered Unavailable in its invoking cycle was never
        // sent: `fail`, not `info`.
        let never_sent = text
            .lines()
            .find(|l| l.contains(r#""f":"delete""#) && !l.contains("invoke"))
            .unwrap();
        assert!(never_sent.contains(r#""type":"fail""#), "{never_sent}");
        assert!(never_sent.contains(r#""error":"unavailable""#), "{never_sent}");
        assert_eq!(h.ops[3].outcome(), Outcome::Fail);
        let back: History<u64> = read_jsonl(&buf[..]).unwrap();
        let mut a = h.ops.clone();
        let mut b = back.ops.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = read_jsonl::<u64>(&b"{\"type\":\"invoke\"}\n"[..]).unwrap_err();
        assert_eq!(err.to_string(), "line 1: missing field \"process\"");
        let err = read_jsonl::<u64>(&b"\nnot json\n"[..]).unwrap_err();
        assert!(err.to_string().starts_with("line 2: "), "{err}");
    }

    /// One JSON line from `(type, process, f, key, value, cycle)`.
    fn ev(ty: &str, process: u64, f: &str, key: u64, value: Json, cycle: u64) -> String {
        json!({"type": ty, "process": process, "f": f, "key": key, "value": value, "cycle": cycle}).to_string()
    }

    fn read(lines: &[String]) -> Result<(History<u64>, Renamed), HistoryError> {
        read_jsonl_ids::<u64>(lines.join("\n").as_bytes())
    }

    fn err(lines: &[String]) -> String {
        read(lines).unwrap_err().to_string()
    }

    #[test]
    fn inconsistent_histories_are_errors_naming_the_line() {
        // A completion before its invocation (it used to panic in the checks).
        assert_eq!(
            err(&[
                ev("ok", 0, "put", 1, json!(3), 4),
                ev("invoke", 0, "put", 1, json!(3), 0)
            ]),
            "line 1: process 0 completes nothing"
        );
        // A completion in an earlier cycle than its invocation.
        assert_eq!(
            err(&[
                ev("invoke", 0, "put", 1, json!(3), 4),
                ev("ok", 0, "put", 1, json!(3), 2)
            ]),
            "line 2: cycle 2 goes back from 4"
        );
        // Invoked and answered in one cycle, then invoked again in it (the
        // checks used to panic: "invoked with an operation in flight").
        assert!(err(&[
            ev("invoke", 0, "put", 1, json!(3), 4),
            ev("info", 0, "put", 1, json!(3), 4),
            ev("invoke", 0, "get", 1, Json::Null, 4),
        ])
        .starts_with("line 3: process 0 invokes again in cycle 4"));
        // Duplicate and backwards `index`, backwards `time` (used to be ignored).
        let with = |extra: Json, line: String| {
            let mut v: Json = serde_json::from_str(&line).unwrap();
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v.to_string()
        };
        let a = ev("invoke", 0, "put", 1, json!(3), 0);
        let b = ev("ok", 0, "put", 1, json!(3), 4);
        assert_eq!(
            err(&[
                with(json!({"index": 5}), a.clone()),
                with(json!({"index": 5}), b.clone())
            ]),
            "line 2: index 5 does not follow index 5"
        );
        assert_eq!(
            err(&[with(json!({"time": 9}), a.clone()), with(json!({"time": 8}), b.clone())]),
            "line 2: time 8 goes back from 9"
        );
        assert_eq!(
            err(&[with(json!({"index": -1}), a.clone())]),
            "line 1: \"index\" is not an integer in 0..2^64"
        );
        // A completion that does not match its invocation.
        assert_eq!(
            err(&[a.clone(), ev("ok", 0, "put", 2, json!(3), 4)]),
            "line 2: completion for key 2 of an operation on another key"
        );
        assert_eq!(
            err(&[a.clone(), ev("ok", 0, "put", 1, json!(4), 4)]),
            "line 2: completion value 4 differs from the invoked one"
        );
        assert_eq!(
            err(&[with(json!({"tag": 1}), a.clone()), with(json!({"tag": 2}), b.clone())]),
            "line 2: completion tag 2 for an invocation tagged 1"
        );
        assert_eq!(
            err(&[with(json!({"tag": 1u64 << 32}), a.clone())]),
            "line 1: tag 4294967296 is 2^32 or more"
        );
        assert_eq!(
            err(&[
                with(json!({"tag": 1}), a.clone()),
                with(json!({"tag": 1}), b.clone()),
                with(json!({"tag": 1}), ev("invoke", 0, "get", 1, Json::Null, 4)),
            ]),
            "line 3: process 0 reuses tag 1"
        );
        assert_eq!(err(&["[1,2]".to_string()]), "line 1: not a JSON object");
        // A request never sent fails in its invoking cycle, not later.
        assert_eq!(
            err(&[
                a.clone(),
                with(json!({"type": "fail", "error": "unavailable"}), b.clone())
            ]),
            "line 2: a request failed as unavailable (never sent) completes in the cycle it was invoked, 0"
        );
        assert_eq!(
            err(&[a.clone(), with(json!({"type": "fail"}), b.clone())]),
            "line 2: put cannot fail"
        );
        assert_eq!(
            err(&[
                ev("invoke", 0, "get", 1, Json::Null, 0),
                ev("ok", 0, "get", 1, json!(-1), 4)
            ]),
            "line 2: value: invalid value: integer `-1`, expected u64"
        );
    }

    #[test]
    fn an_empty_history_is_an_error() {
        assert!(matches!(read(&[]), Err(HistoryError::Empty)));
        assert!(matches!(read(&["".into(), "  ".into()]), Err(HistoryError::Empty)));
        assert_eq!(HistoryError::Empty.to_string(), "history is empty: no operations");
    }

    #[test]
    fn large_process_ids_keys_and_cycles_keep_their_identity() {
        // Processes 65536 and 0 used to alias (cut to 16 bits), keys 2^32+1
        // and 1 too, and cycle 2^32+6 came before cycle 2^32-10.
        let big = 1u64 << 32;
        let (h, renamed) = read(&[
            ev("invoke", 0, "put", 1, json!(7), big - 10),
            ev("invoke", 65_536, "get", big + 1, Json::Null, big - 10),
            ev("ok", 0, "put", 1, json!(7), big - 6),
            ev("ok", 65_536, "get", big + 1, Json::Null, big - 6),
            ev("invoke", 65_536, "get", 1, Json::Null, big + 6),
            ev("ok", 65_536, "get", 1, json!(7), big + 10),
        ])
        .unwrap();
        assert_eq!(renamed.processes, Some(vec![0, 65_536]));
        assert_eq!(renamed.keys, Some(vec![1, big + 1]));
        assert_eq!(renamed.cycle_base, Some(big - 10));
        let clients: Vec<u16> = h.ops.iter().map(|o| o.client).collect();
        assert_eq!(clients, [0, 1, 1]);
        let keys: Vec<Key> = h.ops.iter().map(|o| o.op.key()).collect();
        assert_eq!(keys, [0, 1, 0]);
        let cycles: Vec<(u32, u32)> = h
            .ops
            .iter()
            .map(|o| (o.invoke, o.ret.as_ref().unwrap().cycle))
            .collect();
        assert_eq!(cycles, [(0, 4), (0, 4), (16, 20)]);
        // Numbers that fit are kept as they are.
        let (_, renamed) = read(&[ev(
            "invoke",
            65_534,
            "get",
            u32::MAX as u64,
            Json::Null,
            u32::MAX as u64,
        )])
        .unwrap();
        assert_eq!(renamed, Renamed::default());
        // A span of cycles that does not fit is an error, not a wrap.
        assert_eq!(
            err(&[
                ev("invoke", 0, "get", 1, Json::Null, 0),
                ev("invoke", 1, "get", 1, Json::Null, big)
            ]),
            "line 2: cycle 4294967296 is 2^32 or more cycles after the first cycle 0"
        );
    }
}
