//! Failed remote logins spaced out per source address, so that guessing passwords over many
//! connections at once is as slow as guessing over one.
//!
//! A session whose login was refused does not tell its client before the daemon says how long
//! to wait ([`LoginThrottle::refused`]): one [`REFUSAL_DELAY`] after the last refusal told to
//! the same source, so that `n` wrong proofs sent in parallel from one address are told over
//! `n` delays, as if sent one after the other. Sources are addresses (IPv4) and `/64` prefixes
//! (IPv6, where one host easily holds a whole prefix). The table is bounded
//! ([`MAX_SOURCES`]): entries whose refusals have all been told are forgotten first, then the
//! one told soonest, so sources cannot grow it and one source does not make others wait. A
//! refusal never waits longer than [`LONGEST_WAIT`], which bounds how long a refused
//! connection is held open.

use core::net::IpAddr;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::session::REFUSAL_DELAY;
use crate::source::Source;

/// Most sources remembered at once.
pub const MAX_SOURCES: usize = 4096;

/// The longest a refusal waits before it is told.
pub const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// When the last refusal to each recent source is told; see the module documentation.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    told_at: HashMap<Source, Instant>,
}

impl LoginThrottle {
    /// A login from `source` (`None`: unknown) was refused at `now`: how long after `now` the
    /// refusal is told.
    pub fn refused(&mut self, now: Instant, source: Option<IpAddr>) -> Duration {
        let Some(source) = source.map(Source::of) else {
            return REFUSAL_DELAY;
        };
        let after = self
            .told_at
            .get(&source)
            .copied()
            .filter(|told| *told > now)
            .unwrap_or(now);
        let told = (after + REFUSAL_DELAY).min(now + LONGEST_WAIT);
        if !self.told_at.contains_key(&source) && self.told_at.len() >= MAX_SOURCES {
            self.make_room(now);
        }
        self.told_at.insert(source, told);
        told - now
    }

    /// How many sources are remembered.
    pub fn sources(&self) -> usize {
        self.told_at.len()
    }

    /// Forgets the sources whose refusals have all been told by `now`, or, when there are
    /// none, the one whose last refusal is told soonest.
    fn make_room(&mut self, now: Instant) {
        self.told_at.retain(|_, told| *told > now);
        if self.told_at.len() < MAX_SOURCES {
            return;
        }
        let soonest = self
            .told_at
            .iter()
            .min_by_key(|(_, told)| **told)
            .map(|(source, _)| *source);
        if let Some(source) = soonest {
            self.told_at.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::origin;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn parallel_refusals_from_one_address_are_told_one_delay_apart() {
        let now = origin();
        let mut throttle = LoginThrottle::default();
        for n in 1..=40u32 {
            assert_eq!(throttle.refused(now, Some(HOST)), REFUSAL_DELAY * n);
        }
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            throttle.refused(now, Some(other)),
            REFUSAL_DELAY,
            "another address waits only its own delay"
        );
        assert_eq!(throttle.refused(now, None), REFUSAL_DELAY);
        let later = now + REFUSAL_DELAY * 40;
        assert_eq!(
            throttle.refused(later, Some(HOST)),
            REFUSAL_DELAY,
            "once every refusal is told, the next waits one delay"
        );
    }

    #[test]
    fn a_refusal_waits_at_most_the_longest_wait() {
        let now = origin();
        let mut throttle = LoginThrottle::default();
        let most = LONGEST_WAIT.as_secs() / REFUSAL_DELAY.as_secs();
        for _ in 0..most + 10 {
            assert!(throttle.refused(now, Some(HOST)) <= LONGEST_WAIT);
        }
        assert_eq!(throttle.refused(now, Some(HOST)), LONGEST_WAIT);
    }

    #[test]
    fn an_ipv6_prefix_is_one_source_and_mapped_ipv4_is_its_address() {
        let now = origin();
        let mut throttle = LoginThrottle::default();
        let one = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        let same_prefix = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        let other_prefix = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(throttle.refused(now, Some(one)), REFUSAL_DELAY);
        assert_eq!(throttle.refused(now, Some(same_prefix)), REFUSAL_DELAY * 2);
        assert_eq!(throttle.refused(now, Some(other_prefix)), REFUSAL_DELAY);
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        assert_eq!(throttle.refused(now, Some(HOST)), REFUSAL_DELAY);
        assert_eq!(throttle.refused(now, Some(mapped)), REFUSAL_DELAY * 2);
    }

    #[test]
    fn the_table_is_bounded_and_told_sources_go_first() {
        let now = origin();
        let mut throttle = LoginThrottle::default();
        let address = |n: u32| Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)));
        for n in 0..MAX_SOURCES as u32 {
            throttle.refused(now, address(n));
        }
        // The first address is refused again: it is told last.
        assert_eq!(throttle.refused(now, address(0)), REFUSAL_DELAY * 2);
        assert_eq!(throttle.sources(), MAX_SOURCES);
        let newcomer = address(MAX_SOURCES as u32);
        assert_eq!(throttle.refused(now, newcomer), REFUSAL_DELAY);
        assert_eq!(
            throttle.sources(),
            MAX_SOURCES,
            "one pending source made room"
        );
        assert_eq!(
            throttle.refused(now, address(0)),
            REFUSAL_DELAY * 3,
            "the source told last stays"
        );
        let told = now + REFUSAL_DELAY * 3;
        throttle.refused(told, address(MAX_SOURCES as u32 + 1));
        assert_eq!(
            throttle.sources(),
            1,
            "sources whose refusals are told are forgotten"
        );
    }
}
