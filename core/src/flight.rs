//! Requests that wait for parts of a scrape (servers, endpoints): each request waits for its
//! own set of parts until its own deadline, and a part that several requests wait for is
//! collected once for all of them (single flight).
//!
//! The owner of the parts runs one collection per part at a time and hands each result to
//! [`Flights::deliver`]; a request whose parts are all in, or whose deadline passed
//! ([`Flights::expire`]), comes back as a [`Landed`] flight.

use std::time::Instant;

/// Requests for one set of parts, started together: they share one answer.
#[derive(Debug)]
struct Flight<T, P> {
    tickets: Vec<T>,
    parts: Vec<usize>,
    results: Vec<Option<P>>,
    deadline: Instant,
}

/// A flight that is over: its tickets, and each part's result (`None` for a part that missed
/// the deadline).
#[derive(Debug)]
pub(crate) struct Landed<T, P> {
    /// The requests that waited.
    pub tickets: Vec<T>,
    /// The parts asked for, in the order asked.
    pub parts: Vec<usize>,
    /// Each part's result, in the same order.
    pub results: Vec<Option<P>>,
}

/// The flights waiting; see the module documentation.
#[derive(Debug)]
pub(crate) struct Flights<T, P> {
    flights: Vec<Flight<T, P>>,
}

impl<T, P> Default for Flights<T, P> {
    fn default() -> Self {
        Flights {
            flights: Vec::new(),
        }
    }
}

impl<T, P: Clone> Flights<T, P> {
    /// Adds `ticket` for `parts`: it joins the waiting flight for exactly those parts (and
    /// keeps that flight's deadline and what it has collected so far), or starts a flight that
    /// ends by `deadline`.
    pub(crate) fn join(&mut self, ticket: T, parts: Vec<usize>, deadline: Instant) {
        if let Some(flight) = self.flights.iter_mut().find(|flight| flight.parts == parts) {
            flight.tickets.push(ticket);
            return;
        }
        let results = vec![None; parts.len()];
        self.flights.push(Flight {
            tickets: vec![ticket],
            parts,
            results,
            deadline,
        });
    }

    /// The latest deadline of the flights still waiting for `part`: how long its collection
    /// is worth going on. `None` when no flight waits for it.
    pub(crate) fn deadline_of(&self, part: usize) -> Option<Instant> {
        self.flights
            .iter()
            .filter(|flight| flight.waits_for(part))
            .map(|flight| flight.deadline)
            .max()
    }

    /// `part` was collected: the flights this completes.
    pub(crate) fn deliver(&mut self, part: usize, result: &P) -> Vec<Landed<T, P>> {
        for flight in &mut self.flights {
            if let Some(index) = flight.parts.iter().position(|&asked| asked == part)
                && flight.results[index].is_none()
            {
                flight.results[index] = Some(result.clone());
            }
        }
        self.take(|flight| flight.results.iter().all(Option::is_some))
    }

    /// The flights whose deadline has passed, with what arrived in time.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Landed<T, P>> {
        self.take(|flight| flight.deadline <= now)
    }

    /// Every flight, landed as it stands (the daemon stops, or the parts changed).
    pub(crate) fn abandon(&mut self) -> Vec<Landed<T, P>> {
        self.take(|_| true)
    }

    /// The earliest deadline of a waiting flight.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.flights.iter().map(|flight| flight.deadline).min()
    }

    fn take(&mut self, over: impl Fn(&Flight<T, P>) -> bool) -> Vec<Landed<T, P>> {
        let (landed, waiting) = std::mem::take(&mut self.flights)
            .into_iter()
            .partition(|flight| over(flight));
        self.flights = waiting;
        landed
            .into_iter()
            .map(|flight: Flight<T, P>| Landed {
                tickets: flight.tickets,
                parts: flight.parts,
                results: flight.results,
            })
            .collect()
    }
}

impl<T, P> Flight<T, P> {
    fn waits_for(&self, part: usize) -> bool {
        self.parts
            .iter()
            .zip(&self.results)
            .any(|(&asked, result)| asked == part && result.is_none())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn requests_for_the_same_parts_share_a_flight() {
        let now = crate::test_clock::origin();
        let mut flights: Flights<u32, &str> = Flights::default();
        flights.join(1, vec![0, 1], now + Duration::from_secs(10));
        flights.join(2, vec![0, 1], now + Duration::from_secs(3));
        flights.join(3, vec![1], now + Duration::from_secs(2));
        assert_eq!(flights.deadline_of(1), Some(now + Duration::from_secs(10)));
        assert_eq!(flights.poll_timeout(), Some(now + Duration::from_secs(2)));
        let landed = flights.deliver(1, &"b");
        assert_eq!(landed.len(), 1);
        assert_eq!(landed[0].tickets, [3]);
        assert_eq!(landed[0].results, [Some("b")]);
        assert_eq!(flights.deadline_of(1), None, "part 1 is in");
        flights.join(4, vec![0, 1], now + Duration::from_secs(1));
        flights.join(5, vec![1], now + Duration::from_secs(1));
        assert_eq!(flights.deadline_of(1), Some(now + Duration::from_secs(1)));
        let landed = flights.deliver(0, &"a");
        assert_eq!(landed.len(), 1);
        assert_eq!(
            landed[0].tickets,
            [1, 2, 4],
            "the late request joins with what is in"
        );
        assert_eq!(landed[0].results, [Some("a"), Some("b")]);
    }

    #[test]
    fn a_late_flight_lands_with_what_arrived() {
        let now = crate::test_clock::origin();
        let mut flights: Flights<u32, u8> = Flights::default();
        flights.join(1, vec![0, 1], now + Duration::from_secs(2));
        assert!(flights.deliver(0, &7).is_empty());
        assert!(flights.expire(now + Duration::from_secs(1)).is_empty());
        let landed = flights.expire(now + Duration::from_secs(2));
        assert_eq!(landed[0].results, [Some(7), None]);
        assert_eq!(flights.poll_timeout(), None);
        flights.join(2, vec![3], now);
        assert_eq!(flights.abandon()[0].tickets, [2]);
    }
}
