use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::history::StoredRow;

const WALL: i64 = 1_700_000_000;

fn keeper(interval: u64, retention: u64) -> (Keeper, Instant) {
    let now = crate::test_clock::origin();
    let settings = HistorySettings {
        interval: Duration::from_secs(interval),
        retention: Duration::from_secs(retention),
    };
    (Keeper::new(StoreKind::Metrics, settings, now), now)
}

fn body() -> SnapshotBody {
    SnapshotBody::Exposition(Bytes::from_static(b"up 1\n"))
}

fn work(keeper: &mut Keeper) -> Vec<(KeeperTicket, StoreTask)> {
    std::iter::from_fn(|| keeper.poll_work())
        .map(|(ticket, task)| {
            assert_eq!(task.store, StoreKind::Metrics);
            (ticket, task.task)
        })
        .collect()
}

fn written() -> Result<StoreOutcome, StoreError> {
    Ok(StoreOutcome::Written {
        rows: 1,
        skipped: 0,
    })
}

fn row(timestamp: i64, series: i64) -> StoredRow {
    StoredRow {
        timestamp,
        series,
        server: "primary".into(),
        labels: "server=\"primary\"".into(),
        value: 1.0,
    }
}

fn job(metric: &str) -> HistoryJob {
    HistoryJob {
        store: StoreKind::Metrics,
        metric: metric.into(),
        start: PageStart::First {
            timestamp: None,
            duration: -600,
        },
    }
}

#[test]
fn snapshots_are_written_one_at_a_time_in_order() {
    let (mut keeper, now) = keeper(0, 0);
    keeper.store(now, WALL, body());
    keeper.store(now, WALL + 1, body());
    let first = work(&mut keeper);
    assert!(matches!(
        first.as_slice(),
        [(
            KeeperTicket::Write,
            StoreTask::Write(Snapshot {
                timestamp: WALL,
                ..
            })
        )]
    ));
    keeper.handle(now, WALL + 1, KeeperTicket::Write, written());
    let second = work(&mut keeper);
    assert!(matches!(
        second.as_slice(),
        [(KeeperTicket::Write, StoreTask::Write(Snapshot { timestamp, .. }))] if *timestamp == WALL + 1
    ));
    keeper.handle(now, WALL + 1, KeeperTicket::Write, written());
    assert!(work(&mut keeper).is_empty(), "retention 0 never prunes");
    assert_eq!(
        keeper.counters(),
        HistoryCounters {
            snapshots: 2,
            failures: 0
        }
    );
    assert_eq!(keeper.poll_timeout(), None, "no timer, no prune");
}

#[test]
fn one_snapshot_per_second_is_taken() {
    let (mut keeper, now) = keeper(0, 0);
    for _ in 0..3 {
        keeper.store(now, WALL, body());
    }
    keeper.store(now, WALL + 1, body());
    assert_eq!(work(&mut keeper).len(), 1, "one write in flight");
    keeper.handle(now, WALL + 1, KeeperTicket::Write, written());
    let next = work(&mut keeper);
    assert!(
        matches!(next.as_slice(), [(_, StoreTask::Write(Snapshot { timestamp, .. }))] if *timestamp == WALL + 1),
        "the next second's snapshot, the same second's others not taken"
    );
    assert_eq!(keeper.counters().failures, 0, "nothing was lost");
}

#[test]
fn snapshots_beyond_the_waiting_room_are_dropped_and_counted() {
    let (mut keeper, now) = keeper(0, 0);
    for second in 0..4 {
        keeper.store(now, WALL + second, body());
    }
    assert_eq!(work(&mut keeper).len(), 1, "one write in flight");
    assert_eq!(keeper.counters().failures, 1);
    keeper.handle(now, WALL, KeeperTicket::Write, written());
    let next = work(&mut keeper);
    assert!(
        matches!(next.as_slice(), [(_, StoreTask::Write(Snapshot { timestamp, .. }))] if *timestamp == WALL + 2),
        "the oldest waiting one was dropped"
    );
}

#[test]
fn failed_writes_are_counted_and_the_next_snapshot_is_tried() {
    let (mut keeper, now) = keeper(0, 0);
    let locked = StoreError {
        kind: StoreErrorKind::Locked,
        message: "h.db: database is locked".into(),
    };
    for second in 0..3 {
        keeper.store(now, WALL + second, body());
        assert_eq!(work(&mut keeper).len(), 1);
        keeper.handle(now, WALL, KeeperTicket::Write, Err(locked.clone()));
    }
    assert_eq!(
        keeper.counters(),
        HistoryCounters {
            snapshots: 0,
            failures: 3
        }
    );
    keeper.store(now, WALL + 3, body());
    assert_eq!(work(&mut keeper).len(), 1);
    keeper.handle(now, WALL, KeeperTicket::Write, written());
    assert_eq!(
        keeper.counters(),
        HistoryCounters {
            snapshots: 1,
            failures: 3
        }
    );
}

use crate::scrape::empty_result as scrape_result;

#[test]
fn a_cached_result_is_stored_once_and_the_timer_waits_an_interval() {
    let (mut keeper, now) = keeper(60, 0);
    assert_eq!(keeper.poll_timeout(), Some(now + Duration::from_secs(60)));
    assert!(!keeper.wants_scrape(now + Duration::from_secs(59)));
    let later = now + Duration::from_secs(60);
    assert!(keeper.wants_scrape(later));
    assert!(!keeper.wants_scrape(later), "asked once");
    assert_eq!(keeper.poll_timeout(), None, "waiting for the scrape");
    let result = scrape_result(later);
    keeper.scrape_finished(later, WALL, &result, ExporterCounters::default());
    keeper.scrape_finished(later, WALL, &result, ExporterCounters::default());
    let tasks = work(&mut keeper);
    assert_eq!(tasks.len(), 1, "the same result is one snapshot");
    let StoreTask::Write(snapshot) = &tasks[0].1 else {
        panic!("a write");
    };
    let text = snapshot.text();
    assert!(
        String::from_utf8_lossy(&text).contains("\npgexporter_state 1\n"),
        "the snapshot is the text exposition"
    );
    assert_eq!(keeper.poll_timeout(), Some(later + Duration::from_secs(60)));
}

#[test]
fn a_bridge_scrape_is_its_merged_body_once_for_the_bridge_store() {
    let now = crate::test_clock::origin();
    let settings = HistorySettings {
        interval: Duration::from_secs(30),
        retention: Duration::ZERO,
    };
    let mut keeper = Keeper::new(StoreKind::Bridge, settings, now);
    let body = Bytes::from_static(b"up{endpoint=\"e:1\"} 1\n");
    let result = Arc::new(crate::bridge::BridgeResult {
        endpoints: Vec::new(),
        finished: now,
        body: body.clone(),
    });
    let later = now + Duration::from_secs(30);
    assert!(keeper.wants_scrape(later));
    keeper.bridge_finished(later, WALL, &result);
    keeper.bridge_finished(later, WALL + 1, &result);
    let tasks: Vec<HistoryTask> = std::iter::from_fn(|| keeper.poll_work())
        .map(|(_, task)| task)
        .collect();
    let [
        HistoryTask {
            store: StoreKind::Bridge,
            task: StoreTask::Write(snapshot),
        },
    ] = tasks.as_slice()
    else {
        panic!("one write to the bridge store: {tasks:?}");
    };
    assert_eq!((snapshot.timestamp, snapshot.text()), (WALL, body));
    assert_eq!(
        keeper.poll_timeout(),
        Some(later + Duration::from_secs(30)),
        "the cached result counts as a snapshot for the timer"
    );
}

#[test]
fn pruning_runs_in_batches_until_done_then_waits() {
    let (mut keeper, now) = keeper(0, 100);
    assert_eq!(keeper.poll_timeout(), Some(now), "a prune at start");
    keeper.handle_timeout(now, WALL);
    let tasks = work(&mut keeper);
    assert!(matches!(
        tasks.as_slice(),
        [(KeeperTicket::Prune, StoreTask::Prune { before, max_rows: PRUNE_BATCH_ROWS })] if *before == WALL - 100
    ));
    keeper.store(now, WALL, body());
    assert!(
        work(&mut keeper).is_empty(),
        "the write waits for the prune"
    );
    let pruned = |more| Ok(StoreOutcome::Pruned { rows: 10, more });
    keeper.handle(now, WALL, KeeperTicket::Prune, pruned(true));
    assert!(matches!(
        work(&mut keeper).as_slice(),
        [(KeeperTicket::Write, _)]
    ));
    keeper.handle(now, WALL, KeeperTicket::Write, written());
    assert!(
        matches!(work(&mut keeper).as_slice(), [(KeeperTicket::Prune, _)]),
        "more to prune: at once"
    );
    keeper.handle(now, WALL, KeeperTicket::Prune, pruned(false));
    assert!(work(&mut keeper).is_empty());
    assert_eq!(keeper.poll_timeout(), Some(now + Duration::from_secs(10)));
}

#[test]
fn queries_run_two_at_a_time_and_too_many_are_busy() {
    let (mut keeper, now) = keeper(0, 0);
    for peer in 0..(2 + MAX_WAITING_QUERIES as u64 + 1) {
        keeper.job(now, WALL, PeerId(peer), job("up"));
    }
    let tasks = work(&mut keeper);
    assert_eq!(tasks.len(), MAX_RUNNING_QUERIES);
    let StoreTask::Query(query) = &tasks[0].1 else {
        panic!("a query");
    };
    assert_eq!(
        query.window,
        Window {
            from: WALL - 600,
            to: WALL
        }
    );
    assert_eq!((query.after, query.limit), (None, PAGE_ROWS));
    assert_eq!(
        keeper.poll_answer(),
        Some((PeerId(2 + MAX_WAITING_QUERIES as u64), HistoryAnswer::Busy))
    );
    let (ticket, _) = tasks.into_iter().next().unwrap();
    keeper.handle(
        now,
        WALL,
        ticket,
        Ok(StoreOutcome::Page(vec![row(WALL, 1)])),
    );
    let Some((PeerId(0), HistoryAnswer::Piece { body, next: None })) = keeper.poll_answer() else {
        panic!("a complete answer");
    };
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed[0]["metric"], "up");
    assert_eq!(work(&mut keeper).len(), 1, "the next waiting query starts");
}

#[test]
fn a_full_page_continues_after_its_last_row() {
    let (mut keeper, now) = keeper(0, 0);
    keeper.job(now, WALL, PeerId(1), job("up"));
    let (ticket, _) = work(&mut keeper).remove(0);
    let rows: Vec<StoredRow> = (0..PAGE_ROWS as i64)
        .map(|series| row(WALL, series))
        .collect();
    keeper.handle(now, WALL, ticket, Ok(StoreOutcome::Page(rows)));
    let Some((
        _,
        HistoryAnswer::Piece {
            body,
            next: Some(cursor),
        },
    )) = keeper.poll_answer()
    else {
        panic!("a piece with more to come");
    };
    assert!(body.starts_with(b"[{") && !body.ends_with(b"]"));
    assert_eq!(
        (cursor.timestamp, cursor.series),
        (WALL, PAGE_ROWS as i64 - 1)
    );
    let next = HistoryJob {
        store: StoreKind::Metrics,
        metric: "up".into(),
        start: PageStart::After(cursor),
    };
    keeper.job(now, WALL + 5, PeerId(1), next);
    let (ticket, task) = work(&mut keeper).remove(0);
    let StoreTask::Query(query) = task else {
        panic!("a query");
    };
    assert_eq!(
        query.window, cursor.window,
        "the window stays the first one"
    );
    assert_eq!(query.after, Some((WALL, PAGE_ROWS as i64 - 1)));
    keeper.handle(now, WALL, ticket, Ok(StoreOutcome::Page(Vec::new())));
    let Some((_, HistoryAnswer::Piece { body, next: None })) = keeper.poll_answer() else {
        panic!("the last piece");
    };
    assert_eq!(&body[..], b"]");
}

#[test]
fn pieces_stop_at_their_size() {
    let long = StoredRow {
        labels: "x".repeat(crate::history::samples::MAX_LABELS_BYTES),
        ..row(WALL, 0)
    };
    let rows: Vec<StoredRow> = (0..100)
        .map(|series| StoredRow {
            series,
            ..long.clone()
        })
        .collect();
    let HistoryAnswer::Piece {
        body,
        next: Some(cursor),
    } = piece("m", Window { from: 0, to: WALL }, false, &rows)
    else {
        panic!("a piece with more to come");
    };
    assert!(body.len() >= PIECE_BYTES && body.len() < PIECE_BYTES + 2 * long.labels.len());
    assert!(cursor.series > 0 && cursor.series < 99);
}

#[test]
fn a_failed_query_is_a_500_answer() {
    let (mut keeper, now) = keeper(0, 0);
    keeper.job(now, WALL, PeerId(3), job("up"));
    let (ticket, _) = work(&mut keeper).remove(0);
    let missing = StoreError {
        kind: StoreErrorKind::CannotOpen,
        message: "h.db: unable to open database file".into(),
    };
    keeper.handle(now, WALL, ticket, Err(missing));
    assert_eq!(
        keeper.poll_answer(),
        Some((PeerId(3), HistoryAnswer::Failed))
    );
}
