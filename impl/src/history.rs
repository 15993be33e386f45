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
use crate::node::{ClientId, Op, OpResult, Tag, Val};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
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
    /// Did not take effect (a conditional op's condition failed).
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

    /// ok / fail / info.
    pub fn outcome(&self) -> Outcome {
        match &self.ret {
            None
            | Some(Ret {
                result: OpResult::Unavailable,
                ..
            }) => Outcome::Info,
            Some(Ret {
                result: OpResult::Exists | OpResult::Absent,
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
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a JSON-lines history. Each completion is paired with the latest
/// invocation of its process; an invocation without completion is pending.
pub fn read_jsonl<V: Val>(input: impl BufRead) -> Result<History<V>, HistoryError> {
    let mut history = History::new();
    let mut open: std::collections::HashMap<u64, usize> = Default::default();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        let lineno = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| HistoryError::Bad { line: lineno, msg };
        let ev: Json = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let field = |k: &str| ev.get(k).ok_or_else(|| bad(format!("missing field {k:?}")));
        let ty = field("type")?
            .as_str()
            .ok_or_else(|| bad("\"type\" is not a string".into()))?;
        let process = field("process")?
            .as_u64()
            .ok_or_else(|| bad("\"process\" is not a number".into()))?;
        let cycle = field("cycle")?
            .as_u64()
            .ok_or_else(|| bad("\"cycle\" is not a number".into()))? as u32;
        let f = field("f")?
            .as_str()
            .ok_or_else(|| bad("\"f\" is not a string".into()))?;
        let key = field("key")?
            .as_u64()
            .ok_or_else(|| bad("\"key\" is not a number".into()))? as u32;
        let value = || -> Result<V, HistoryError> {
            serde_json::from_value(field("value")?.clone()).map_err(|e| bad(format!("value: {e}")))
        };
        match ty {
            "invoke" => {
                if open.contains_key(&process) {
                    return Err(bad(format!("process {process} invoked twice without completing")));
                }
                let op = match f {
                    "get" => Op::Get(key),
                    "put" => Op::Put(key, value()?),
                    "delete" => Op::Delete(key),
                    "insert" => Op::Insert(key, value()?),
                    "modify" => Op::Modify(key, value()?),
                    other => return Err(bad(format!("unknown f {other:?}"))),
                };
                let tag = ev.get("tag").and_then(Json::as_u64).unwrap_or(history.ops.len() as u64) as u32;
                open.insert(process, history.ops.len());
                history.ops.push(OpRecord {
                    client: process as u16,
                    tag,
                    op,
                    invoke: cycle,
                    ret: None,
                });
            }
            "ok" | "fail" | "info" => {
                let i = open
                    .remove(&process)
                    .ok_or_else(|| bad(format!("process {process} completes nothing")))?;
                let rec = &mut history.ops[i];
                if rec.op.name() != f {
                    return Err(bad(format!("completion {f:?} for an invoked {:?}", rec.op.name())));
                }
                let result = match (ty, &rec.op) {
                    ("info", _) => OpResult::Unavailable,
                    ("ok", Op::Get(_)) => {
                        let v = field("value")?.clone();
                        OpResult::Value(serde_json::from_value(v).map_err(|e| bad(format!("value: {e}")))?)
                    }
                    ("ok", Op::Modify(..)) => {
                        let p = field("previous")?.clone();
                        OpResult::Modified(serde_json::from_value(p).map_err(|e| bad(format!("previous: {e}")))?)
                    }
                    ("ok", _) => OpResult::Ok,
                    ("fail", Op::Insert(..)) => OpResult::Exists,
                    ("fail", Op::Modify(..)) => OpResult::Absent,
                    ("fail", op) => return Err(bad(format!("{} cannot fail", op.name()))),
                    _ => unreachable!(),
                };
                rec.ret = Some(Ret { cycle, result });
            }
            other => return Err(bad(format!("unknown type {other:?}"))),
        }
    }
    Ok(history)
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
}
