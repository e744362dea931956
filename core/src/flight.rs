//! Requests that wait for parts of a scrape (servers, endpoints): each request waits for its
//! own set of parts until its own deadline, and a part that several requests wait for is
//! collected once for all of them (single flight).
//!
//! The owner of the parts runs one collection per part at a time and hands each result to
//! [`Flights::deliver`]; the requests whose parts are all in come back as a [`Landed`] flight,
//! and so do, with what has arrived, the requests of a flight whose own deadline passed
//! ([`Flights::expire`]) while the flight goes on for the others.

use std::time::Instant;

/// Requests for one set of parts: they share what is collected, each until its own deadline.
#[derive(Debug)]
struct Flight<T, P> {
    /// The requests waiting, each with its deadline.
    tickets: Vec<(T, Instant)>,
    parts: Vec<usize>,
    results: Vec<Option<P>>,
}

/// Requests of a flight that are over: their tickets, and each part's result (`None` for a
/// part that missed the deadline).
#[derive(Debug)]
pub(crate) struct Landed<T, P> {
    /// The requests that waited.
    pub tickets: Vec<T>,
    /// The parts asked for, in the order asked.
    pub parts: Vec<usize>,
    /// Each part's result, in the same order.
    pub results: Vec<Option<P>>,
    /// The requests' deadline passed while their flight goes on ([`Flights::expire`]): an
    /// early answer rather than the flight's end.
    pub early: bool,
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
    /// Adds `ticket` for `parts`, answered by `deadline` at the latest: it joins the waiting
    /// flight for exactly those parts (and what it has collected so far), or starts one.
    pub(crate) fn join(&mut self, ticket: T, parts: Vec<usize>, deadline: Instant) {
        if let Some(flight) = self.flights.iter_mut().find(|flight| flight.parts == parts) {
            flight.tickets.push((ticket, deadline));
            return;
        }
        let results = vec![None; parts.len()];
        self.flights.push(Flight {
            tickets: vec![(ticket, deadline)],
            parts,
            results,
        });
    }

    /// The latest deadline of the requests still waiting for `part`: how long its collection
    /// is worth going on. `None` when no request waits for it.
    pub(crate) fn deadline_of(&self, part: usize) -> Option<Instant> {
        self.flights
            .iter()
            .filter(|flight| flight.waits_for(part))
            .filter_map(Flight::last_deadline)
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

    /// The requests whose deadline has passed, one [`Landed`] per flight with what arrived in
    /// time; their flights go on for the requests that wait longer.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Landed<T, P>> {
        let mut landed = Vec::new();
        for flight in &mut self.flights {
            let (expired, waiting) = std::mem::take(&mut flight.tickets)
                .into_iter()
                .partition(|&(_, deadline)| deadline <= now);
            flight.tickets = waiting;
            let expired: Vec<(T, Instant)> = expired;
            if !expired.is_empty() {
                landed.push(Landed {
                    tickets: expired.into_iter().map(|(ticket, _)| ticket).collect(),
                    parts: flight.parts.clone(),
                    results: flight.results.clone(),
                    early: true,
                });
            }
        }
        self.flights.retain(|flight| !flight.tickets.is_empty());
        landed
    }

    /// Every flight, landed as it stands (the daemon stops, or the parts changed).
    pub(crate) fn abandon(&mut self) -> Vec<Landed<T, P>> {
        self.take(|_| true)
    }

    /// The earliest deadline of a waiting request.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.flights
            .iter()
            .flat_map(|flight| flight.tickets.iter().map(|&(_, deadline)| deadline))
            .min()
    }

    fn take(&mut self, over: impl Fn(&Flight<T, P>) -> bool) -> Vec<Landed<T, P>> {
        let (landed, waiting) = std::mem::take(&mut self.flights)
            .into_iter()
            .partition(|flight| over(flight));
        self.flights = waiting;
        landed
            .into_iter()
            .map(|flight: Flight<T, P>| Landed {
                tickets: flight
                    .tickets
                    .into_iter()
                    .map(|(ticket, _)| ticket)
                    .collect(),
                parts: flight.parts,
                results: flight.results,
                early: false,
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

    fn last_deadline(&self) -> Option<Instant> {
        self.tickets.iter().map(|&(_, deadline)| deadline).max()
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
        assert!(landed[0].early);
        assert_eq!(flights.poll_timeout(), None);
        flights.join(2, vec![3], now);
        let abandoned = flights.abandon();
        assert_eq!(abandoned[0].tickets, [2]);
        assert!(!abandoned[0].early);
    }

    #[test]
    fn each_request_of_a_flight_keeps_its_own_deadline() {
        let now = crate::test_clock::origin();
        let mut flights: Flights<u32, u8> = Flights::default();
        flights.join(1, vec![0, 1], now + Duration::from_secs(2));
        flights.join(2, vec![0, 1], now + Duration::from_secs(9));
        assert_eq!(flights.deadline_of(1), Some(now + Duration::from_secs(9)));
        assert_eq!(flights.poll_timeout(), Some(now + Duration::from_secs(2)));
        assert!(flights.deliver(0, &4).is_empty());
        let early = flights.expire(now + Duration::from_secs(2));
        assert_eq!(early.len(), 1);
        assert_eq!(
            early[0].tickets,
            [1],
            "only the request whose deadline passed"
        );
        assert_eq!(early[0].results, [Some(4), None]);
        assert!(early[0].early);
        assert_eq!(flights.poll_timeout(), Some(now + Duration::from_secs(9)));
        let landed = flights.deliver(1, &5);
        assert_eq!(landed[0].tickets, [2], "the flight went on for the other");
        assert_eq!(landed[0].results, [Some(4), Some(5)]);
        assert!(!landed[0].early);
    }
}
