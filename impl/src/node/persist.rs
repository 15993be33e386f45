//! Persistence as a described effect: what a replica says must become
//! durable in a cycle, for the runtime to perform.
//!
//! The model keeps a dead replica's [`Image`] as [`Server::durable_image`]
//! defines it. The runtime cannot copy a whole image to disk every cycle, so
//! the node describes the change instead: [`Server::durable_effect`] is the
//! difference between the image the runtime last made durable and the one
//! [`Server::durable_image`] says is durable now, as a list of writes (a key
//! and its value, or a tombstone), the sessions that changed and the write count.
//! Applying the effects in order ([`apply`]) rebuilds exactly the image the
//! model keeps (a test replays random step sequences to hold it to that), so
//! model and runtime agree by construction.
//!
//! When: the effect of a cycle is computed after the node's step and must be
//! durable **before any frame of that cycle goes out**, for both modes. For
//! `sync` it is the state after this cycle's step; for `async` it is the
//! state after the previous cycle's step ([`Server::durable_image`] lags by
//! one), so an `async` node's writes reach the disk one cycle after it acted
//! on them. Pure: no IO here.

use super::recovery::{Image, Persist};
use super::server::{Server, Session, Store};
use super::{Key, Val};
use serde::{Deserialize, Serialize};

/// One cycle's change to a replica's durable image.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Effect<V> {
    /// Keys whose durable value changes: the new value, or `None` (deleted).
    pub writes: Vec<(Key, Option<V>)>,
    /// Clients whose durable session changes, with the new session.
    pub sessions: Vec<(u32, Option<Session<V>>)>,
    /// The new write count (`Image::writes`, which orders replicas after a total failure), if it changed.
    pub write_count: Option<u32>,
}

impl<V> Effect<V> {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.sessions.is_empty() && self.write_count.is_none()
    }
}

/// The empty image of a replica serving `clients` clients: what is durable
/// before anything was written (and all a `none` replica ever has).
pub fn empty_image<V: Val, S: Store<V>>(clients: usize) -> Image<V, S> {
    Image {
        store: S::default(),
        sessions: vec![None; clients],
        writes: 0,
    }
}

/// The change from image `old` to image `new`, keys ascending.
pub fn diff<V: Val, S: Store<V>>(old: &Image<V, S>, new: &Image<V, S>) -> Effect<V> {
    let mut writes: Vec<(Key, Option<V>)> = Vec::new();
    for (k, v) in new.store.entries_after(None, usize::MAX) {
        if old.store.get(&k) != Some(&v) {
            writes.push((k, Some(v)));
        }
    }
    for (k, _) in old.store.entries_after(None, usize::MAX) {
        if !new.store.contains_key(&k) {
            writes.push((k, None));
        }
    }
    writes.sort_by_key(|w| w.0);
    let sessions = new
        .sessions
        .iter()
        .enumerate()
        .filter(|(c, s)| old.sessions.get(*c) != Some(*s))
        .map(|(c, s)| (c as u32, s.clone()))
        .collect();
    Effect {
        writes,
        sessions,
        write_count: (old.writes != new.writes).then_some(new.writes),
    }
}

/// Applies `effect` to `image` (what the runtime's store does on commit).
pub fn apply<V: Val, S: Store<V>>(image: &mut Image<V, S>, effect: &Effect<V>) {
    for (k, v) in &effect.writes {
        match v {
            Some(v) => {
                image.store.insert(*k, v.clone());
            }
            None => {
                image.store.remove(k);
            }
        }
    }
    for (c, s) in &effect.sessions {
        let c = *c as usize;
        if image.sessions.len() <= c {
            image.sessions.resize(c + 1, None);
        }
        image.sessions[c] = s.clone();
    }
    if let Some(e) = effect.write_count {
        image.writes = e;
    }
}

impl<V: Val, S: Store<V>> Server<V, S> {
    /// What must become durable this cycle, before its frames go out: the
    /// change from `durable` (the image the runtime holds durable, which it
    /// updates with the effect) to [`Server::durable_image`]. `None` for
    /// `--persist none`.
    pub fn durable_effect(&self, persist: Persist, durable: &Image<V, S>) -> Option<Effect<V>> {
        self.durable_image(persist).map(|now| diff(durable, &now))
    }
}
