//! Admission of accepted connections, for a runtime where a connection being served holds a
//! process ([`ServedBy::Process`](super::ServedBy::Process)).
//!
//! An accepted connection first waits, costing its runtime only a file descriptor, until its
//! client sends something (or closes): a client that connects and stays silent never takes a
//! process. Once it is readable it takes one of the slots of its listener's kind ([`slots`]);
//! each kind has its own, so that remote management, the management socket, the metrics port
//! and the other HTTP ports never take each other's places, and a connection whose kind has
//! no free slot waits on. A waiting connection is closed once `authentication_timeout` has
//! passed since it was accepted, and at most [`MAX_WAITING`] wait per kind: a newcomer closes
//! the one that has waited longest, so idle connections cannot keep a client that speaks from
//! being served.

use std::collections::VecDeque;
use std::time::Instant;

use crate::plan::{ListenerKind, Served};

/// Most connections of one kind waiting at once.
pub const MAX_WAITING: usize = 512;

/// How many connections accepted on a listener of `kind` are served at once.
pub fn slots(kind: ListenerKind) -> usize {
    match kind {
        ListenerKind::Metrics => 48,
        ListenerKind::RemoteManagement => 16,
        ListenerKind::LocalManagement
        | ListenerKind::History
        | ListenerKind::BridgeHistory
        | ListenerKind::Bridge
        | ListenerKind::BridgeJson
        | ListenerKind::Console => 8,
    }
}

/// The number of listener kinds, each with its own slots.
const KINDS: usize = 8;

fn index(kind: ListenerKind) -> usize {
    match kind {
        ListenerKind::Metrics => 0,
        ListenerKind::RemoteManagement => 1,
        ListenerKind::LocalManagement => 2,
        ListenerKind::History => 3,
        ListenerKind::Bridge => 4,
        ListenerKind::BridgeJson => 5,
        ListenerKind::Console => 6,
        ListenerKind::BridgeHistory => 7,
    }
}

/// A slot held by a connection being served; give it back with [`Admission::release`].
#[derive(Debug, PartialEq, Eq)]
pub struct Slot(ListenerKind);

impl Slot {
    /// The kind of listener the slot serves.
    pub fn kind(&self) -> ListenerKind {
        self.0
    }
}

/// A waiting connection's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitingId(u64);

struct Waiting<T> {
    id: WaitingId,
    kind: ListenerKind,
    deadline: Instant,
    connection: T,
}

/// The waiting connections (whatever the runtime keeps of each, `T`) and the slots taken;
/// see the module documentation.
pub struct Admission<T> {
    waiting: VecDeque<Waiting<T>>,
    busy: [usize; KINDS],
    next_id: u64,
}

impl<T> Default for Admission<T> {
    fn default() -> Self {
        Admission {
            waiting: VecDeque::new(),
            busy: [0; KINDS],
            next_id: 0,
        }
    }
}

impl<T> Admission<T> {
    /// A connection accepted at `now` on a listener of `kind` waits for input, at most until
    /// `served`'s `authentication_timeout` passes. Returns the connection to close when `kind`
    /// already had [`MAX_WAITING`] waiting: the one that has waited longest.
    pub fn wait(
        &mut self,
        kind: ListenerKind,
        now: Instant,
        served: &Served,
        connection: T,
    ) -> Option<T> {
        self.wait_until(kind, now + served.management_timeout, connection)
    }

    fn wait_until(&mut self, kind: ListenerKind, deadline: Instant, connection: T) -> Option<T> {
        let id = WaitingId(self.next_id);
        self.next_id += 1;
        self.waiting.push_back(Waiting {
            id,
            kind,
            deadline,
            connection,
        });
        if self.waiting.iter().filter(|w| w.kind == kind).count() <= MAX_WAITING {
            return None;
        }
        let oldest = self.waiting.iter().position(|w| w.kind == kind)?;
        self.waiting.remove(oldest).map(|w| w.connection)
    }

    /// The waiting connections to watch for input, longest waiting first: those whose kind
    /// has a free slot.
    pub fn watched(&self) -> impl Iterator<Item = (WaitingId, &T)> {
        self.waiting
            .iter()
            .filter(|w| self.has_room(w.kind))
            .map(|w| (w.id, &w.connection))
    }

    /// The watched connection `id` is readable: it leaves the waiting ones and takes a slot of
    /// its kind. `None` when it no longer waits or its kind has no free slot left.
    pub fn admit(&mut self, id: WaitingId) -> Option<(Slot, T)> {
        let position = self.waiting.iter().position(|w| w.id == id)?;
        let kind = self.waiting[position].kind;
        if !self.has_room(kind) {
            return None;
        }
        let waiting = self.waiting.remove(position)?;
        self.busy[index(kind)] += 1;
        Some((Slot(kind), waiting.connection))
    }

    /// A connection stopped being served (or could not be): its slot is free again.
    pub fn release(&mut self, slot: Slot) {
        let busy = &mut self.busy[index(slot.0)];
        *busy = busy.saturating_sub(1);
    }

    /// Removes the waiting connections whose deadline has passed at `now`: close them.
    pub fn expire(&mut self, now: Instant) -> Vec<T> {
        let (expired, kept) = self
            .waiting
            .drain(..)
            .partition::<VecDeque<_>, _>(|w| w.deadline <= now);
        self.waiting = kept;
        expired.into_iter().map(|w| w.connection).collect()
    }

    /// Removes every waiting connection (the daemon stops): close them.
    pub fn clear(&mut self) {
        self.waiting.clear();
    }

    /// The earliest deadline of a waiting connection.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.iter().map(|w| w.deadline).min()
    }

    /// How many connections of `kind` are being served.
    pub fn served(&self, kind: ListenerKind) -> usize {
        self.busy[index(kind)]
    }

    /// How many connections wait.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn has_room(&self, kind: ListenerKind) -> bool {
        self.busy[index(kind)] < slots(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::origin;
    use std::time::Duration;

    #[test]
    fn a_connection_takes_a_slot_only_once_it_speaks() {
        let now = origin();
        let mut admission = Admission::default();
        assert_eq!(admission.wait_until(ListenerKind::Metrics, now, "a"), None);
        let (id, _) = admission.watched().next().unwrap();
        assert_eq!(admission.served(ListenerKind::Metrics), 0);
        let (slot, connection) = admission.admit(id).unwrap();
        assert_eq!((slot.kind(), connection), (ListenerKind::Metrics, "a"));
        assert_eq!(admission.served(ListenerKind::Metrics), 1);
        assert!(admission.admit(id).is_none(), "admitted once");
        admission.release(slot);
        assert_eq!(admission.served(ListenerKind::Metrics), 0);
    }

    #[test]
    fn each_kind_has_its_own_slots() {
        let now = origin();
        let mut admission = Admission::default();
        let kinds = [ListenerKind::RemoteManagement, ListenerKind::Metrics];
        let mut taken = Vec::new();
        for _ in 0..=slots(ListenerKind::RemoteManagement) {
            for kind in kinds {
                admission.wait_until(kind, now, kind);
            }
        }
        loop {
            let Some((id, _)) = admission.watched().next() else {
                break;
            };
            taken.push(admission.admit(id).unwrap().0);
        }
        let full = slots(ListenerKind::RemoteManagement);
        assert_eq!(admission.served(ListenerKind::RemoteManagement), full);
        assert_eq!(admission.served(ListenerKind::Metrics), full + 1);
        assert_eq!(
            admission.waiting(),
            1,
            "one management connection waits for a slot"
        );
        assert_eq!(admission.watched().count(), 0, "and is not watched");
        let held = taken.remove(0);
        assert_eq!(held.kind(), ListenerKind::RemoteManagement);
        admission.release(held);
        assert_eq!(admission.watched().count(), 1);
    }

    #[test]
    fn silent_connections_expire_and_the_oldest_makes_room() {
        let now = origin();
        let timeout = Duration::from_secs(2);
        let mut admission = Admission::default();
        for n in 0..MAX_WAITING {
            let at = now + Duration::from_millis(n as u64) + timeout;
            assert_eq!(admission.wait_until(ListenerKind::Metrics, at, n), None);
        }
        let later = now + Duration::from_secs(1) + timeout;
        let newcomer = admission.wait_until(ListenerKind::Metrics, later, MAX_WAITING);
        assert_eq!(newcomer, Some(0), "the longest waiting is closed");
        let other = admission.wait_until(ListenerKind::LocalManagement, later, 9999);
        assert_eq!(other, None, "another kind waits on its own");
        assert_eq!(
            admission.poll_timeout(),
            Some(now + Duration::from_millis(1) + timeout)
        );
        let expired = admission.expire(now + Duration::from_millis(2) + timeout);
        assert_eq!(expired, [1, 2]);
        // The metrics connections 3 to MAX_WAITING, and the management one.
        assert_eq!(admission.waiting(), MAX_WAITING - 1);
        admission.clear();
        assert_eq!(admission.waiting(), 0);
    }
}
