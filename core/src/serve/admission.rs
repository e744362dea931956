//! Admission of accepted connections, for a runtime where a connection being served holds a
//! process ([`ServedBy::Process`](super::ServedBy::Process)).
//!
//! An accepted connection first waits, costing its runtime only a file descriptor, until its
//! client sends something (or closes): a client that connects and stays silent never takes a
//! process. Once it is readable it takes one of the slots of its listener's kind ([`slots`]);
//! each kind has its own, so that remote management, the management socket, the metrics port
//! and the other HTTP ports never take each other's places, and a connection whose kind has
//! no free slot waits on. Remote management also bounds what one source address (IPv4
//! address, IPv6 `/64`, as [`Source`] counts it) holds at once ([`source_share`]): its
//! refused logins are held open while their refusals are spaced out, so without a share one
//! address could take every slot and make everyone else's logins wait behind its own; a
//! connection over its source's share waits on like one whose kind is full. A waiting
//! connection is closed once `authentication_timeout` has passed since it was accepted, and at
//! most [`MAX_WAITING`] wait per kind: a newcomer closes the one that has waited longest, so
//! idle connections cannot keep a client that speaks from being served.

use core::net::IpAddr;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::plan::{ListenerKind, Served};
use crate::source::Source;

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

/// How many of `kind`'s slots one source may hold at once; `None`: as many as there are.
/// Remote management only, a quarter of its slots: a metrics connection is held at most the
/// HTTP timeout, and a share there would make a scraper share its slots with whatever else
/// connects from the same address (behind one NAT, say).
pub fn source_share(kind: ListenerKind) -> Option<usize> {
    match kind {
        ListenerKind::RemoteManagement => Some((slots(kind) / 4).max(1)),
        ListenerKind::Metrics
        | ListenerKind::LocalManagement
        | ListenerKind::History
        | ListenerKind::BridgeHistory
        | ListenerKind::Bridge
        | ListenerKind::BridgeJson
        | ListenerKind::Console => None,
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
pub struct Slot {
    kind: ListenerKind,
    /// The source it counts against, when its kind has a [`source_share`].
    source: Option<Source>,
}

impl Slot {
    /// The kind of listener the slot serves.
    pub fn kind(&self) -> ListenerKind {
        self.kind
    }
}

/// A waiting connection's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitingId(u64);

struct Waiting<T> {
    id: WaitingId,
    kind: ListenerKind,
    source: Option<Source>,
    deadline: Instant,
    connection: T,
}

/// The waiting connections (whatever the runtime keeps of each, `T`) and the slots taken;
/// see the module documentation.
pub struct Admission<T> {
    waiting: VecDeque<Waiting<T>>,
    busy: [usize; KINDS],
    /// The slots held by each source, of the kinds with a [`source_share`]; a source holding
    /// none is not kept, so there are at most as many entries as such slots.
    busy_by_source: HashMap<(ListenerKind, Source), usize>,
    next_id: u64,
}

impl<T> Default for Admission<T> {
    fn default() -> Self {
        Admission {
            waiting: VecDeque::new(),
            busy: [0; KINDS],
            busy_by_source: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<T> Admission<T> {
    /// A connection accepted at `now` on a listener of `kind` from `client` (`None`: no
    /// address, a Unix socket) waits for input, at most until `served`'s
    /// `authentication_timeout` passes. Returns the connection to close when `kind` already
    /// had [`MAX_WAITING`] waiting: the one that has waited longest.
    pub fn wait(
        &mut self,
        kind: ListenerKind,
        client: Option<IpAddr>,
        now: Instant,
        served: &Served,
        connection: T,
    ) -> Option<T> {
        self.wait_until(kind, client, now + served.management_timeout, connection)
    }

    fn wait_until(
        &mut self,
        kind: ListenerKind,
        client: Option<IpAddr>,
        deadline: Instant,
        connection: T,
    ) -> Option<T> {
        let id = WaitingId(self.next_id);
        self.next_id += 1;
        self.waiting.push_back(Waiting {
            id,
            kind,
            source: client
                .filter(|_| source_share(kind).is_some())
                .map(Source::of),
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
    /// has a free slot that their source may take.
    pub fn watched(&self) -> impl Iterator<Item = (WaitingId, &T)> {
        self.waiting
            .iter()
            .filter(|w| self.has_room(w.kind, w.source))
            .map(|w| (w.id, &w.connection))
    }

    /// The watched connection `id` is readable: it leaves the waiting ones and takes a slot of
    /// its kind. `None` when it no longer waits, or its kind has no free slot left that its
    /// source may take.
    pub fn admit(&mut self, id: WaitingId) -> Option<(Slot, T)> {
        let position = self.waiting.iter().position(|w| w.id == id)?;
        let (kind, source) = (self.waiting[position].kind, self.waiting[position].source);
        if !self.has_room(kind, source) {
            return None;
        }
        let waiting = self.waiting.remove(position)?;
        self.busy[index(kind)] += 1;
        if let Some(source) = source {
            *self.busy_by_source.entry((kind, source)).or_insert(0) += 1;
        }
        Some((Slot { kind, source }, waiting.connection))
    }

    /// A connection stopped being served (or could not be): its slot is free again.
    pub fn release(&mut self, slot: Slot) {
        let busy = &mut self.busy[index(slot.kind)];
        *busy = busy.saturating_sub(1);
        if let Some(source) = slot.source
            && let Some(held) = self.busy_by_source.get_mut(&(slot.kind, source))
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.busy_by_source.remove(&(slot.kind, source));
            }
        }
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

    /// How many slots of `kind` connections from `client` hold.
    pub fn served_from(&self, kind: ListenerKind, client: IpAddr) -> usize {
        self.busy_by_source
            .get(&(kind, Source::of(client)))
            .copied()
            .unwrap_or(0)
    }

    /// Whether a connection of `kind` from `source` may take a slot now.
    fn has_room(&self, kind: ListenerKind, source: Option<Source>) -> bool {
        let within_share = match (source, source_share(kind)) {
            (Some(source), Some(share)) => {
                self.busy_by_source
                    .get(&(kind, source))
                    .copied()
                    .unwrap_or(0)
                    < share
            }
            _ => true,
        };
        self.busy[index(kind)] < slots(kind) && within_share
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
        assert_eq!(
            admission.wait_until(ListenerKind::Metrics, None, now, "a"),
            None
        );
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
        for _ in 0..=slots(ListenerKind::RemoteManagement) {
            for kind in kinds {
                admission.wait_until(kind, None, now, kind);
            }
        }
        let mut taken: Vec<_> = admit_all(&mut admission)
            .into_iter()
            .map(|(slot, _)| slot)
            .collect();
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
            assert_eq!(
                admission.wait_until(ListenerKind::Metrics, None, at, n),
                None
            );
        }
        let later = now + Duration::from_secs(1) + timeout;
        let newcomer = admission.wait_until(ListenerKind::Metrics, None, later, MAX_WAITING);
        assert_eq!(newcomer, Some(0), "the longest waiting is closed");
        let other = admission.wait_until(ListenerKind::LocalManagement, None, later, 9999);
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

    /// Admits every watched connection, in order; the slots taken.
    fn admit_all<T>(admission: &mut Admission<T>) -> Vec<(Slot, T)> {
        let mut admitted = Vec::new();
        loop {
            let Some(id) = admission.watched().next().map(|(id, _)| id) else {
                return admitted;
            };
            admitted.push(admission.admit(id).unwrap());
        }
    }

    #[test]
    fn one_source_holds_at_most_its_share_of_remote_management() {
        let now = origin();
        let kind = ListenerKind::RemoteManagement;
        let share = source_share(kind).unwrap();
        assert_eq!(share, slots(kind) / 4);
        let busy: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let mut admission = Admission::default();
        for n in 0..slots(kind) {
            admission.wait_until(kind, Some(busy), now, n);
        }
        admission.wait_until(kind, Some(mapped), now, 100);
        admission.wait_until(kind, Some(other), now, 200);
        let admitted = admit_all(&mut admission);
        let connections: Vec<_> = admitted.iter().map(|(_, n)| *n).collect();
        let mut expected: Vec<_> = (0..share).collect();
        expected.push(200);
        assert_eq!(connections, expected, "the busy source stops at its share");
        assert_eq!(admission.served_from(kind, busy), share);
        assert_eq!(admission.served_from(kind, other), 1);
        assert_eq!(admission.served(kind), share + 1, "slots are left");
        assert_eq!(admission.waiting(), slots(kind) - share + 1);
        assert_eq!(admission.watched().count(), 0, "nothing more is watched");

        let mut slots_held = admitted.into_iter().map(|(slot, _)| slot);
        admission.release(slots_held.next().unwrap());
        let next = admission.watched().next().map(|(_, n)| *n);
        assert_eq!(
            next,
            Some(share),
            "the longest waiting of the source is next"
        );
        assert_eq!(admission.watched().count(), admission.waiting());
        let other_slot = slots_held.next_back().unwrap();
        admission.release(other_slot);
        assert_eq!(admission.served_from(kind, other), 0);
        assert_eq!(
            admission.busy_by_source.len(),
            1,
            "a source holding none is forgotten"
        );
    }

    #[test]
    fn sources_fill_remote_management_together_and_other_kinds_have_no_share() {
        let now = origin();
        let kind = ListenerKind::RemoteManagement;
        let share = source_share(kind).unwrap();
        let sources = slots(kind) / share;
        let mut admission = Admission::default();
        for source in 0..=sources {
            let address = IpAddr::from([192, 0, 2, source as u8]);
            for _ in 0..share {
                admission.wait_until(kind, Some(address), now, source);
            }
        }
        let one: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..slots(ListenerKind::Metrics) {
            admission.wait_until(ListenerKind::Metrics, Some(one), now, 0);
        }
        admit_all(&mut admission);
        assert_eq!(admission.served(kind), slots(kind), "every slot is taken");
        assert_eq!(
            admission.waiting(),
            share,
            "the last source waits for a slot"
        );
        assert_eq!(
            admission.served_from(kind, IpAddr::from([192, 0, 2, 0])),
            share
        );
        assert_eq!(
            admission.served(ListenerKind::Metrics),
            slots(ListenerKind::Metrics),
            "one address may take every metrics slot"
        );
        assert_eq!(admission.served_from(ListenerKind::Metrics, one), 0);
    }
}
