//! No input makes `verify` or the UDP frame decoder panic.
//!
//! `tidekv verify` reads histories other tools wrote (Jepsen-shaped JSON
//! lines), and a UDP node reads whatever datagram reaches its port: both must
//! answer every input with a verdict or an error. These property tests feed
//! arbitrary bytes, arbitrary JSON objects, and near-valid histories through
//! the history reader and on through every check `verify` runs, and
//! arbitrary datagrams through the frame decoder.

use proptest::prelude::*;
use serde_json::{json, Map, Value as Json};
use tidekv::history::{read_jsonl_ids, HistoryError};
use tidekv::runtime::wire::{decode_frame, decode_header, HEADER_BYTES, WIRE_VERSION};
use tidekv_model::cli::verify::verify;

/// Reads `text` as a history and, if it reads, runs all of `verify` on it
/// (with a small search bound, to keep each case fast). Panics only if the
/// reader or a check does.
fn reader_and_checks(text: &[u8]) -> Result<(), HistoryError> {
    let (history, _) = read_jsonl_ids::<u64>(text)?;
    assert!(!history.ops.is_empty(), "a history that reads has operations");
    let bound = tidekv_checks::wgl::Bound {
        configs: 2_000,
        deadline: None,
    };
    let v = verify(&history, bound);
    assert_eq!(v.operations, history.ops.len());
    Ok(())
}

/// Integers at the edges of every width the reader narrows to.
fn edge_int() -> impl Strategy<Value = Json> {
    prop_oneof![
        (0u64..8).prop_map(Json::from),
        Just(json!(65_534u64)),
        Just(json!(65_535u64)),
        Just(json!(65_536u64)),
        Just(json!(u32::MAX)),
        Just(json!(u32::MAX as u64 + 1)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(i64::MIN)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        any::<u64>().prop_map(Json::from),
    ]
}

/// Any JSON value, biased towards what a history field may hold.
fn any_json() -> impl Strategy<Value = Json> {
    let word = prop_oneof![
        Just("invoke"),
        Just("ok"),
        Just("fail"),
        Just("info"),
        Just("get"),
        Just("put"),
        Just("delete"),
        Just("insert"),
        Just("modify"),
        Just("cas"),
        Just(""),
    ]
    .prop_map(Json::from);
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        edge_int(),
        word,
        ".{0,4}".prop_map(Json::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..3).prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 11] = [
    "type", "process", "f", "key", "value", "cycle", "time", "index", "tag", "previous", "error",
];

/// A JSON object with a random subset of the history fields, each holding
/// any value.
fn any_event() -> impl Strategy<Value = Json> {
    prop::collection::vec((0..FIELDS.len(), any_json()), 0..10).prop_map(|fields| {
        let mut m = Map::new();
        for (f, v) in fields {
            m.insert(FIELDS[f].to_string(), v);
        }
        Json::Object(m)
    })
}

/// An event that is well formed field by field, with small numbers so that
/// events pair up and reach the checks, and edge values now and then.
fn near_valid_event() -> impl Strategy<Value = Json> {
    let ty = prop_oneof![4 => Just("invoke"), 2 => Just("ok"), 1 => Just("fail"), 1 => Just("info")];
    let f = prop_oneof![Just("get"), Just("put"), Just("delete"), Just("insert"), Just("modify")];
    let small = |n: u64| prop_oneof![8 => (0..n).prop_map(Json::from), 1 => edge_int()];
    let value = prop_oneof![4 => (0u64..3).prop_map(Json::from), 1 => Just(Json::Null), 1 => edge_int()];
    (
        ty,
        small(4),
        f,
        small(2),
        value.clone(),
        small(12),
        value,
        any::<bool>(),
    )
        .prop_map(|(ty, process, f, key, value, cycle, previous, with_previous)| {
            let mut ev = json!({"type": ty, "process": process, "f": f, "key": key, "value": value, "cycle": cycle});
            if with_previous {
                ev["previous"] = previous;
            }
            ev
        })
}

fn lines(events: &[Json]) -> Vec<u8> {
    events.iter().map(|e| format!("{e}\n")).collect::<String>().into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Arbitrary bytes: a history or an error naming a line (or empty, or an
    /// I/O error for invalid UTF-8), never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        match reader_and_checks(&bytes) {
            Ok(()) | Err(HistoryError::Empty) | Err(HistoryError::Io(_)) => {}
            Err(HistoryError::Bad { line, .. }) => prop_assert!(line >= 1),
        }
    }

    /// Arbitrary JSON objects with the history's fields holding anything.
    #[test]
    fn arbitrary_json_objects_never_panic(events in prop::collection::vec(any_event(), 0..8)) {
        let _ = reader_and_checks(&lines(&events));
    }

    /// Arbitrary JSON values, one per line.
    #[test]
    fn arbitrary_json_values_never_panic(events in prop::collection::vec(any_json(), 0..6)) {
        let _ = reader_and_checks(&lines(&events));
    }

    /// Near-valid histories (cycles out of order, completions without
    /// invocations, mismatched fields, edge numbers): these reach the checks.
    #[test]
    fn near_valid_histories_never_panic(mut events in prop::collection::vec(near_valid_event(), 1..24), sort in any::<bool>()) {
        if sort {
            events.sort_by_key(|e| e["cycle"].as_u64());
        }
        let _ = reader_and_checks(&lines(&events));
    }

    /// Any datagram decodes to a frame or an error, never a panic, with or
    /// without a valid header in front.
    #[test]
    fn arbitrary_datagrams_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..300), header in any::<bool>()) {
        if header && bytes.len() >= HEADER_BYTES {
            bytes[0] = WIRE_VERSION;
        }
        let _ = decode_header(&bytes);
        let _ = decode_frame(&bytes);
    }
}
