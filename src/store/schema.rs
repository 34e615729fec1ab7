//! Schema and migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Each entry migrates from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: events, projections, snapshot.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- The event log: audit trail, sync outbox, source for reports.
    CREATE TABLE events (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        kind  TEXT NOT NULL,
        body  TEXT NOT NULL
    );
    CREATE TABLE tickets (
        id             INTEGER PRIMARY KEY,
        day            TEXT NOT NULL,
        origin_queue   TEXT NOT NULL,
        number         INTEGER NOT NULL,
        label          TEXT NOT NULL,
        class          TEXT NOT NULL,
        issued_at_ms   INTEGER NOT NULL,
        queue          TEXT NOT NULL,
        state          TEXT NOT NULL,   -- waiting | serving | postponed | done | no_show | void
        window         INTEGER,
        called_at_ms   INTEGER,
        ended_at_ms    INTEGER,
        recalls        INTEGER NOT NULL DEFAULT 0,
        transfers      INTEGER NOT NULL DEFAULT 0,
        ahead          INTEGER NOT NULL,
        est_wait_s     INTEGER NOT NULL,
        UNIQUE (day, origin_queue, number)
    );
    CREATE INDEX tickets_day ON tickets (day);
    CREATE TABLE transactions (
        id             INTEGER PRIMARY KEY,
        ticket_id      INTEGER NOT NULL UNIQUE REFERENCES tickets (id),
        label          TEXT NOT NULL,
        queue          TEXT NOT NULL,
        window         INTEGER NOT NULL,
        staff          TEXT NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        finished_at_ms INTEGER NOT NULL,
        items          TEXT NOT NULL,   -- JSON array of catalogue codes
        outcome        TEXT NOT NULL,   -- done | accepted | incomplete | referred | refused
        outcome_detail TEXT NOT NULL,   -- JSON of the outcome
        due_date       TEXT,
        rating_until_ms INTEGER NOT NULL
    );
    CREATE INDEX transactions_finished ON transactions (finished_at_ms);
    -- One row per transaction once its rating window closed: a level, or unrated (NULLs).
    CREATE TABLE ratings (
        transaction_id INTEGER PRIMARY KEY REFERENCES transactions (id),
        window         INTEGER NOT NULL,
        key            INTEGER,
        level          TEXT,
        at_ms          INTEGER NOT NULL
    );
    CREATE TABLE snapshot (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    ",
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
