//! The durable store: one SQLite database per hall (WAL, `synchronous=FULL`).
//!
//! Every state change is committed as event rows (the audit trail and sync
//! outbox, numbered by a per-hall sequence) together with the tables they
//! project into (tickets, transactions, ratings), in one `BEGIN IMMEDIATE`
//! transaction. A snapshot of the hall state is written every
//! [`SNAPSHOT_EVERY`] events; on start the hall is the last snapshot plus the
//! events after it.

mod projection;
mod schema;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::domain::{ConfigBundle, Event, HallState};

pub use schema::SCHEMA_VERSION;

/// Write a snapshot after this many events since the last one.
pub const SNAPSHOT_EVERY: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database integrity check failed: {0}")]
    Corrupt(String),
    #[error(
        "this database belongs to hall `{found}`, not `{expected}`: point store.database at this hall's file"
    )]
    WrongHall { found: String, expected: String },
    #[error(
        "database schema version {found} is newer than this program understands ({known}): upgrade hallq"
    )]
    TooNew { found: i64, known: i64 },
    #[error("event {seq} cannot be read back: {source}")]
    BadEvent {
        seq: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("the stored configuration bundle cannot be read back: {0}")]
    BadBundle(#[source] serde_json::Error),
    #[error("snapshot cannot be read back: {0}")]
    BadSnapshot(#[source] serde_json::Error),
}

/// One row of the event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub event: Event,
}

/// The hall as found in the database at start.
#[derive(Debug)]
pub struct Loaded {
    pub state: Option<HallState>,
    /// Events after the snapshot, to replay in order.
    pub tail: Vec<EventRecord>,
    pub last_seq: i64,
}

pub struct Store {
    conn: Connection,
    since_snapshot: u64,
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

impl Store {
    /// Open (creating if needed) the database of hall `hall_id`, check its
    /// integrity and bring its schema up to date.
    pub fn open(path: &Path, hall_id: &str) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::setup(conn, hall_id)
    }

    /// An in-memory database, for tests and benches.
    pub fn open_in_memory(hall_id: &str) -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, hall_id)
    }

    fn setup(conn: Connection, hall_id: &str) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Corrupt(check));
        }
        schema::migrate(&conn)?;
        let found: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'hall_id'", [], |r| r.get(0))
            .optional()?;
        match found {
            Some(found) if found != hall_id => {
                return Err(StoreError::WrongHall {
                    found,
                    expected: hall_id.to_string(),
                })
            }
            Some(_) => {}
            None => {
                conn.execute("INSERT INTO meta (key, value) VALUES ('hall_id', ?1)", [hall_id])?;
            }
        }
        Ok(Store {
            conn,
            since_snapshot: 0,
        })
    }

    /// Read the last snapshot and the events after it.
    pub fn load(&mut self) -> Result<Loaded, StoreError> {
        let snap: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, body FROM snapshot WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (from, state) = match snap {
            Some((seq, body)) => (
                seq,
                Some(serde_json::from_str(&body).map_err(StoreError::BadSnapshot)?),
            ),
            None => (0, None),
        };
        let tail = self.events_after(from, i64::MAX)?;
        self.since_snapshot = tail.len() as u64;
        let last_seq = tail.last().map_or(from, |r| r.seq);
        Ok(Loaded {
            state,
            tail,
            last_seq,
        })
    }

    /// The time of the newest event, if any.
    pub fn last_event_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = self
            .conn
            .query_row("SELECT at_ms FROM events ORDER BY seq DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(at.map(from_ms))
    }

    /// Events with `seq > after`, oldest first, at most `limit`.
    pub fn events_after(&self, after: i64, limit: i64) -> Result<Vec<EventRecord>, StoreError> {
        read_events(&self.conn, after, limit)
    }

    /// Commit events in one transaction, with their projections; returns the
    /// sequence number of the last one. `state` is the hall after the events,
    /// snapshotted when due.
    pub fn commit(
        &mut self,
        at: DateTime<Utc>,
        events: &[Event],
        state: &HallState,
    ) -> Result<i64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last = 0;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO events (at_ms, kind, body) VALUES (?1, ?2, ?3)")?;
            for e in events {
                let body = serde_json::to_string(e).expect("events always serialise");
                insert.execute(params![ms(at), e.kind(), body])?;
                last = tx.last_insert_rowid();
                projection::project(&tx, at, e)?;
            }
        }
        self.since_snapshot += events.len() as u64;
        let snap = self.since_snapshot >= SNAPSHOT_EVERY;
        if snap {
            write_snapshot(&tx, last, state)?;
        }
        tx.commit()?;
        if snap {
            self.since_snapshot = 0;
        }
        Ok(last)
    }

    /// Snapshot the state now (at shutdown, after a rebuild), so the next start replays nothing.
    pub fn snapshot(&mut self, state: &HallState) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        write_snapshot(&tx, last, state)?;
        tx.commit()?;
        self.since_snapshot = 0;
        Ok(())
    }

    /// The centre's configuration bundles in force, merged; `None` before the first.
    pub fn bundle(&self) -> Result<Option<ConfigBundle>, StoreError> {
        read_bundle(&self.conn)
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn write_snapshot(conn: &Connection, seq: i64, state: &HallState) -> Result<(), StoreError> {
    let body = serde_json::to_string(state).expect("state always serialises");
    conn.execute(
        "INSERT INTO snapshot (id, seq, body) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, body = excluded.body",
        params![seq, body],
    )?;
    Ok(())
}

/// The centre's configuration bundles in force, merged (see [`ConfigBundle::merged_with`]).
pub fn read_bundle(conn: &Connection) -> Result<Option<ConfigBundle>, StoreError> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'config_bundle'", [], |r| {
            r.get(0)
        })
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(StoreError::BadBundle))
        .transpose()
}

/// Read events with `seq > after` from any connection (the API reads on its own).
pub fn read_events(conn: &Connection, after: i64, limit: i64) -> Result<Vec<EventRecord>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, at_ms, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, body) = row?;
        let event = serde_json::from_str(&body).map_err(|source| StoreError::BadEvent { seq, source })?;
        out.push(EventRecord {
            seq,
            at: from_ms(at),
            event,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::{local, setup, shared};
    use crate::domain::{Command, Hall, TicketClass};

    fn issue_events(hall: &mut Hall, n: usize) -> Vec<(DateTime<Utc>, Vec<Event>)> {
        let t = local(2026, 12, 4, 9, 0);
        (0..n)
            .map(|_| {
                let ev = hall
                    .handle(
                        &Command::IssueTicket {
                            queue: "A".into(),
                            class: TicketClass::Normal,
                        },
                        t,
                    )
                    .unwrap();
                (t, ev)
            })
            .collect()
    }

    #[test]
    fn committed_events_come_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/hall.db");
        let mut hall = Hall::new(shared(setup()));
        {
            let mut store = Store::open(&path, "h1").unwrap();
            for (at, ev) in issue_events(&mut hall, 3) {
                store.commit(at, &ev, &hall.state).unwrap();
            }
        }
        let mut store = Store::open(&path, "h1").unwrap();
        let loaded = store.load().unwrap();
        assert!(loaded.state.is_none());
        assert_eq!(loaded.last_seq, 3);
        assert_eq!(
            loaded.tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let mut replayed = Hall::new(shared(setup()));
        for r in &loaded.tail {
            replayed.apply(r.at, &r.event);
        }
        assert_eq!(replayed.state, hall.state);
        let n: i64 = store
            .connection()
            .query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_snapshot_bounds_the_replay() {
        let mut store = Store::open_in_memory("h1").unwrap();
        let mut hall = Hall::new(shared(setup()));
        let batches = issue_events(&mut hall, SNAPSHOT_EVERY as usize + 7);
        let mut states = Vec::new();
        for (at, ev) in &batches {
            // the state passed is the hall after each event; rebuild it step by step
            states.push(ev.clone());
            let mut h = Hall::new(shared(setup()));
            for e in states.iter().flatten() {
                h.apply(*at, e);
            }
            store.commit(*at, ev, &h.state).unwrap();
        }
        let loaded = store.load().unwrap();
        assert_eq!(loaded.tail.len(), 7);
        let mut rebuilt = Hall::with_state(shared(setup()), loaded.state.unwrap());
        for r in &loaded.tail {
            rebuilt.apply(r.at, &r.event);
        }
        assert_eq!(rebuilt.state, hall.state);
        store.snapshot(&hall.state).unwrap();
        assert!(store.load().unwrap().tail.is_empty());
    }

    #[test]
    fn a_failed_commit_leaves_nothing_behind() {
        let mut store = Store::open_in_memory("h1").unwrap();
        let mut hall = Hall::new(shared(setup()));
        let (at, ev) = issue_events(&mut hall, 1).remove(0);
        store.commit(at, &ev, &hall.state).unwrap();
        // the same ticket number again violates UNIQUE (day, queue, number)
        assert!(store.commit(at, &ev, &hall.state).is_err());
        let n: i64 = store
            .connection()
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_database_of_another_hall_or_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hall.db");
        drop(Store::open(&path, "h1").unwrap());
        assert!(matches!(
            Store::open(&path, "h2"),
            Err(StoreError::WrongHall { .. })
        ));
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        }
        assert!(matches!(Store::open(&path, "h1"), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn the_database_runs_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hall.db"), "h1").unwrap();
        let mode: String = store
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = store
            .connection()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
    }
}
