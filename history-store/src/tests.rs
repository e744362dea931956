use bytes::Bytes;
use pgexporter_core::history::{PageQuery, Snapshot, SnapshotBody, Window};

use super::*;

fn snapshot(timestamp: i64, body: &str) -> StoreTask {
    StoreTask::Write(Snapshot {
        timestamp,
        body: SnapshotBody::Exposition(Bytes::from(body.to_owned())),
    })
}

fn query(
    store: &Store,
    metric: &str,
    window: Window,
    after: Option<(i64, i64)>,
) -> Vec<StoredRowView> {
    let outcome = store
        .run(StoreTask::Query(PageQuery {
            metric: metric.into(),
            window,
            after,
            limit: 3,
        }))
        .unwrap();
    let StoreOutcome::Page(rows) = outcome else {
        panic!("a page");
    };
    rows.into_iter()
        .map(|row| (row.timestamp, row.series, row.server, row.labels, row.value))
        .collect()
}

type StoredRowView = (i64, i64, String, String, f64);

const ALL: Window = Window {
    from: 0,
    to: i64::MAX,
};

#[test]
fn snapshots_are_read_back_in_order_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("h.db"));
    let body =
        "# TYPE m gauge\nm{server=\"a\",db=\"x\"} 1\nm{server=\"b\",db=\"x\"} NaN\nother 5\n";
    assert_eq!(
        store.run(snapshot(100, body)).unwrap(),
        StoreOutcome::Written {
            rows: 3,
            skipped: 0
        }
    );
    store
        .run(snapshot(200, "m{server=\"a\",db=\"x\"} 2\nbad line\n"))
        .unwrap();
    let first = query(&store, "m", ALL, None);
    assert_eq!(first.len(), 3);
    assert_eq!(
        first[0],
        (
            100,
            first[0].1,
            "a".into(),
            "server=\"a\",db=\"x\"".into(),
            1.0
        )
    );
    assert!(first[1].4.is_nan(), "NaN is kept");
    assert_eq!((first[2].0, first[2].4), (200, 2.0));
    let after = Some((first[1].0, first[1].1));
    let rest = query(&store, "m", ALL, after);
    assert_eq!(rest.len(), 1, "the page after the cursor");
    let window = query(&store, "m", Window { from: 150, to: 250 }, None);
    assert_eq!(window.len(), 1);
    assert!(query(&store, "nothing", ALL, None).is_empty());
}

#[test]
fn pruning_deletes_old_snapshots_in_batches_and_forgets_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("h.db"));
    for ts in 0..5 {
        store
            .run(snapshot(
                ts * 4000,
                &format!("gone{{s=\"{ts}\"}} 1\nkept 1\n"),
            ))
            .unwrap();
    }
    let prune = |before| {
        store
            .run(StoreTask::Prune {
                before,
                max_rows: 4,
            })
            .unwrap()
    };
    assert_eq!(
        prune(12_000),
        StoreOutcome::Pruned {
            rows: 4,
            more: true
        }
    );
    assert_eq!(
        prune(12_000),
        StoreOutcome::Pruned {
            rows: 2,
            more: false
        }
    );
    assert_eq!(
        prune(12_000),
        StoreOutcome::Pruned {
            rows: 0,
            more: false
        }
    );
    let kept = query(&store, "kept", ALL, None);
    assert_eq!(
        kept.iter().map(|row| row.0).collect::<Vec<_>>(),
        [12_000, 16_000]
    );
    let connection = rusqlite::Connection::open(dir.path().join("h.db")).unwrap();
    let series: i64 = connection
        .query_row("SELECT count(*) FROM series", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        series,
        1 + 2 + 1,
        "kept, gone{{s=3,4}}, and gone{{s=2}} within the hour"
    );
}

#[test]
fn a_page_is_one_range_of_the_sample_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&dir.path().join("h.db"));
    store.run(snapshot(1, "m 1\n")).unwrap();
    let connection = rusqlite::Connection::open(dir.path().join("h.db")).unwrap();
    let plan: Vec<String> = connection
        .prepare(&format!("EXPLAIN QUERY PLAN {}", read::PAGE_SQL))
        .unwrap()
        .query_map(rusqlite::params!["m", 0, 1, 0, 0, 10], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("SEARCH sample USING PRIMARY KEY (metric_id=? AND ts>? AND ts<?)"),
        "{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
}

#[test]
fn a_deleted_database_is_started_again_and_a_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let store = Store::new(&path);
    assert!(
        query(&store, "m", ALL, None).is_empty(),
        "nothing stored yet"
    );
    assert!(!path.exists(), "a query creates no database");
    rusqlite::Connection::open(&path).unwrap();
    assert!(
        query(&store, "m", ALL, None).is_empty(),
        "a file the writer has not laid out yet"
    );
    store.run(snapshot(1, "m 1\n")).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
    }
    store.run(snapshot(2, "m 2\n")).unwrap();
    assert_eq!(query(&store, "m", ALL, None).len(), 1, "a new database");
    let missing = Store::new(&dir.path().join("no/such/dir/h.db"));
    let error = missing.run(snapshot(1, "m 1\n")).unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::CannotOpen);
    assert!(
        error.message.contains("no/such/dir/h.db"),
        "{}",
        error.message
    );
    let error = missing
        .run(StoreTask::Query(PageQuery {
            metric: "m".into(),
            window: ALL,
            after: None,
            limit: 1,
        }))
        .unwrap_err();
    assert_eq!(error.kind, StoreErrorKind::CannotOpen);
}

#[test]
fn stores_of_both_kinds_are_apart() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::new(&dir.path().join("m.db"), &dir.path().join("b.db"));
    let task = |store| HistoryTask {
        store,
        task: snapshot(1, "m 1\n"),
    };
    stores.run(task(StoreKind::Metrics)).unwrap();
    stores.run(task(StoreKind::Bridge)).unwrap();
    assert!(dir.path().join("m.db").exists() && dir.path().join("b.db").exists());
}
