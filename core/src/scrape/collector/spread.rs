//! Two connections for the main database when the cap leaves room for them.
//!
//! The main database carries every server-wide metric besides its own `database: all` ones,
//! so its connection often has several times the work of any other and alone sets how long a
//! scrape takes. When it is that bottleneck (its queries took longer on the last scrape than
//! those of any other database) and the server's databases (as its last database list counted
//! them) leave a connection free under `max_connections_per_server`, the main database's
//! metric queries are split between its connection and a second one: each query goes to the
//! connection with less work so far, the queries taken in order of what they cost on the last
//! scrape (the costliest first), so both finish at about the same time. The second connection
//! is kept between scrapes like the others, and it is the first one closed when a database
//! waits for room. Probes, alerts and extension metrics stay on the main connection. The first
//! scrape never splits: until it ends neither the costs nor the database count are known.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::link::ConnId;

use super::super::plan::{MAIN_DATABASE, PlannedQuery};
use super::Collector;
use super::queries::Purpose;

/// What one server's main database costs next to its other databases, for splitting its work.
#[derive(Debug, Clone, Default)]
pub(super) struct MainLoad {
    /// How many databases the server had at its last database list (1 when its metrics need
    /// none); `None` before that.
    databases: Option<usize>,
    /// What each main-database metric query took on its last answer.
    costs: HashMap<PlannedQuery, Duration>,
    /// The time each other database's queries took in the running scrape.
    running: HashMap<String, Duration>,
    /// The most time one other database's queries took in the last scrape.
    busiest_other: Duration,
}

impl MainLoad {
    /// What `purpose` cost on the last scrape; zero when it was not timed.
    fn cost(&self, purpose: &Purpose) -> Duration {
        match purpose {
            Purpose::Metric(planned) => self.costs.get(planned).copied().unwrap_or_default(),
            Purpose::Probe(_) | Purpose::Alert(_) => Duration::ZERO,
        }
    }

    /// Starts counting a new scrape: the last one's busiest other database is kept.
    pub(super) fn begin_run(&mut self) {
        self.busiest_other = self.running.values().copied().max().unwrap_or_default();
        self.running.clear();
    }
}

impl Collector {
    /// Records how many databases `server` has, from its database list or, when its metrics
    /// need none, as 1.
    pub(super) fn databases_counted(&mut self, server: usize, count: usize) {
        self.main_load[server].databases = Some(count);
    }

    /// Records what the metric query `planned` of `database` of `server` took.
    pub(super) fn query_timed(
        &mut self,
        server: usize,
        database: &str,
        planned: PlannedQuery,
        spent: Duration,
    ) {
        let load = &mut self.main_load[server];
        if database == MAIN_DATABASE {
            load.costs.insert(planned, spent);
        } else if let Some(total) = load.running.get_mut(database) {
            *total += spent;
        } else {
            load.running.insert(database.to_owned(), spent);
        }
    }

    /// Sends the main database's metric queries `work` of `server`: split between its
    /// connection and the second one when the cap leaves room for both, else all on its
    /// connection.
    pub(super) fn dispatch_main_metrics(
        &mut self,
        now: Instant,
        server: usize,
        work: Vec<Purpose>,
    ) {
        let load = &self.main_load[server];
        let room = load
            .databases
            .is_some_and(|databases| databases < self.settings.max_connections_per_server);
        let main_total: Duration = work.iter().map(|purpose| load.cost(purpose)).sum();
        if !room || main_total <= load.busiest_other || work.len() < 2 {
            self.dispatch(now, server, MAIN_DATABASE, work);
            return;
        }
        let Some(conn) = self.second_link(now, server) else {
            self.dispatch(now, server, MAIN_DATABASE, work);
            return;
        };
        let (first, second) = split_by_cost(work, |purpose| self.main_load[server].cost(purpose));
        self.dispatch(now, server, MAIN_DATABASE, first);
        self.send_work(conn, second);
        self.flush(now, conn);
    }

    /// The second connection to the main database of `server`, opened if there is none and
    /// the server has room for one more (counting the sessions still closing).
    fn second_link(&mut self, now: Instant, server: usize) -> Option<ConnId> {
        let existing = self
            .links
            .iter()
            .find(|(_, link)| link.server == server && link.second)
            .map(|(&conn, _)| conn);
        match existing {
            Some(conn) => {
                if let Some(link) = self.links.get_mut(&conn)
                    && link.pending.is_empty()
                {
                    link.busy_from = now;
                }
                Some(conn)
            }
            None if self.has_room(server) => Some(self.open_link(now, server, MAIN_DATABASE, true)),
            None => None,
        }
    }
}

/// `work` in two parts of about the same cost: the costliest query first, each to the part
/// that costs less so far (on a tie, to the part that did not take the previous one, so
/// queries of no known cost are dealt out in turn). Each part keeps the order the queries
/// came in.
fn split_by_cost(
    work: Vec<Purpose>,
    cost: impl Fn(&Purpose) -> Duration,
) -> (Vec<Purpose>, Vec<Purpose>) {
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&index| Reverse(cost(&work[index])));
    let mut to_second = vec![false; work.len()];
    let (mut first_total, mut second_total) = (Duration::ZERO, Duration::ZERO);
    let mut previous_to_second = true;
    for index in order {
        let second = match second_total.cmp(&first_total) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => !previous_to_second,
        };
        if second {
            second_total += cost(&work[index]);
        } else {
            first_total += cost(&work[index]);
        }
        to_second[index] = second;
        previous_to_second = second;
    }
    let (second, first): (Vec<_>, Vec<_>) = work
        .into_iter()
        .zip(to_second)
        .partition(|&(_, second)| second);
    (
        first.into_iter().map(|(purpose, _)| purpose).collect(),
        second.into_iter().map(|(purpose, _)| purpose).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(metric: usize) -> Purpose {
        Purpose::Metric(PlannedQuery { metric, variant: 0 })
    }

    fn metrics_of(part: &[Purpose]) -> Vec<usize> {
        part.iter()
            .map(|purpose| match purpose {
                Purpose::Metric(planned) => planned.metric,
                other => panic!("not a metric: {other:?}"),
            })
            .collect()
    }

    /// Costs in milliseconds by metric index.
    fn split_ms(costs: &[u64]) -> (Vec<usize>, Vec<usize>) {
        let work = (0..costs.len()).map(metric).collect();
        let (first, second) = split_by_cost(work, |purpose| match purpose {
            Purpose::Metric(planned) => Duration::from_millis(costs[planned.metric]),
            _ => Duration::ZERO,
        });
        (metrics_of(&first), metrics_of(&second))
    }

    #[test]
    fn the_costliest_query_may_have_a_connection_to_itself() {
        assert_eq!(split_ms(&[1, 1, 9, 1, 1]), (vec![2], vec![0, 1, 3, 4]));
    }

    #[test]
    fn the_parts_cost_about_the_same_and_keep_their_order() {
        let costs = [4, 3, 3, 2, 2, 2];
        let (first, second) = split_ms(&costs);
        let total = |part: &[usize]| part.iter().map(|&index| costs[index]).sum::<u64>();
        assert_eq!((total(&first), total(&second)), (8, 8));
        assert!(first.is_sorted() && second.is_sorted());
        assert_eq!(first.len() + second.len(), costs.len());
    }

    #[test]
    fn queries_never_timed_are_dealt_out_in_turn() {
        assert_eq!(split_ms(&[0, 0, 0, 0, 0]), (vec![0, 2, 4], vec![1, 3]));
    }
}
