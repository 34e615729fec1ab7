//! Sync to the centre: the hall's outbox client, and the wire types shared
//! with the central server.
//!
//! The events table is the outbox. The sync task ships it in batches, at least
//! once; the centre stores each event once by (hall id, sequence). On every
//! (re)connect the task first asks the centre for its high-water mark and
//! resumes after it: the hall never trusts a local "sent" flag alone (the
//! centre may have lost its last commits, or the hall its acknowledgement).
//! The last acknowledged mark is kept in `meta` only to show the backlog while
//! offline. Failures back off exponentially with full jitter; while the log is
//! shipped the task sleeps until the engine commits again.
//!
//! The task also pulls the centre's configuration bundles and applies them
//! through the engine (checked whole, recorded as an event, or refused).

pub mod client;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tokio::time::Instant;

use crate::engine::{EngineError, EngineHandle};
use crate::store::from_ms;
use client::CentreClient;
use wire::{Batch, WireEvent};

/// A credential: shown as `***` by `Debug` and `Display`, so it cannot slip
/// into a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The `[sync]` table of the hall's configuration.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Base URL of the centre, without a trailing slash.
    pub centre: String,
    pub token: Secret,
    /// PEM file of the CA(s) to trust for the centre; the web roots when `None`.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: this hall's client certificate chain and key (PEM files).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub batch: usize,
    pub backoff_max: Duration,
    /// Alert when the oldest unsent event is older than this.
    pub alert_after: Duration,
    pub bundle_poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync set-up: {0}")]
    Setup(String),
    #[error("cannot reach the centre: {0}")]
    Transport(String),
    #[error("the centre refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the centre holds only up to {high_water}: resuming from there")]
    Gap { high_water: i64 },
    #[error("hall database: {0}")]
    Store(String),
    #[error(
        "the centre holds this hall's events up to {centre}, but this database {why}: \
         it was replaced or restored from an old backup; nothing is sent until the centre's staff resolve it"
    )]
    Diverged { centre: i64, why: String },
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
}

/// What the sync task last saw, shared with the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    pub centre: String,
    pub connected: bool,
    /// The centre holds every event up to here (as last heard; persisted).
    pub acked_seq: i64,
    pub last_contact: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub failures: u32,
    /// Requests made to the centre since start (high-water asks, batches, bundle polls).
    pub requests: u64,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Version of the last bundle refused, and why.
    pub bundle_refused: Option<(i64, String)>,
    #[serde(skip)]
    pub alert_after: Duration,
    #[serde(skip)]
    alerting: bool,
}

pub type SharedSync = Arc<Mutex<SyncState>>;

/// The sync status for the API: the task's view plus the backlog counted now.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    #[serde(flatten)]
    pub state: SyncState,
    pub last_seq: i64,
    /// Events not yet acknowledged by the centre.
    pub backlog: i64,
    pub oldest_unsent_at: Option<DateTime<Utc>>,
    pub oldest_unsent_age_s: Option<i64>,
    pub alert_after_s: u64,
    /// True when the oldest unsent event is older than `alert_after_s`.
    pub alert: bool,
}

/// Count the backlog after `acked` on `conn`.
pub fn backlog(conn: &Connection, acked: i64) -> rusqlite::Result<(i64, i64, Option<i64>)> {
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    let (n, oldest): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MIN(at_ms) FROM events WHERE seq > ?1",
        [acked],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((last, n, oldest))
}

/// Build the status report from the shared state and a database connection.
pub fn report(state: &SyncState, conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<SyncReport> {
    let (last_seq, n, oldest) = backlog(conn, state.acked_seq)?;
    let oldest_at = oldest.map(from_ms);
    let age = oldest_at.map(|t| (now - t).num_seconds().max(0));
    let alert = age.is_some_and(|a| a as u64 > state.alert_after.as_secs());
    Ok(SyncReport {
        state: state.clone(),
        last_seq,
        backlog: n,
        oldest_unsent_at: oldest_at,
        oldest_unsent_age_s: age,
        alert_after_s: state.alert_after.as_secs(),
        alert,
    })
}

const ACKED_KEY: &str = "sync_acked_seq";

fn read_acked(conn: &Connection) -> rusqlite::Result<i64> {
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [ACKED_KEY], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn write_acked(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![ACKED_KEY, seq.to_string()],
    )?;
    Ok(())
}

/// Events with `seq > after` as they were committed, at most `limit`.
pub fn read_outbox(conn: &Connection, after: i64, limit: usize) -> Result<Vec<WireEvent>, SyncError> {
    let store = |e: rusqlite::Error| SyncError::Store(e.to_string());
    let mut st = conn
        .prepare_cached("SELECT seq, at_ms, kind, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .map_err(store)?;
    let rows = st
        .query_map(params![after, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(store)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at_ms, kind, body) = row.map_err(store)?;
        let body = serde_json::value::RawValue::from_string(body)
            .map_err(|e| SyncError::Store(format!("event {seq} is not JSON: {e}")))?;
        out.push(WireEvent {
            seq,
            at_ms,
            kind,
            body,
        });
    }
    Ok(out)
}

/// The wait before retry number `failures` (1, 2, …): full jitter over an
/// exponentially growing cap, from 250 ms up to `max`.
pub fn backoff(failures: u32, max: Duration) -> Duration {
    let cap = Duration::from_millis(250)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max);
    // At least a tenth of the cap, so a failing centre is never hammered.
    let floor = cap / 10;
    floor + (cap - floor).mul_f64(fastrand::f64())
}

/// The sync task. Opens its own connection to the hall database; runs until
/// aborted.
pub struct SyncTask {
    cfg: SyncConfig,
    hall_id: String,
    database: PathBuf,
    engine: EngineHandle,
    state: SharedSync,
}

impl SyncTask {
    pub fn new(
        cfg: SyncConfig,
        hall_id: String,
        database: &Path,
        engine: EngineHandle,
    ) -> (Self, SharedSync) {
        let state = Arc::new(Mutex::new(SyncState {
            centre: cfg.centre.clone(),
            alert_after: cfg.alert_after,
            ..SyncState::default()
        }));
        (
            SyncTask {
                cfg,
                hall_id,
                database: database.to_path_buf(),
                engine,
                state: state.clone(),
            },
            state,
        )
    }

    fn update(&self, f: impl FnOnce(&mut SyncState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    /// Run on the blocking pool with the task's connection.
    async fn blocking<T: Send + 'static>(
        &self,
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&Connection) -> Result<T, SyncError> + Send + 'static,
    ) -> Result<T, SyncError> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let c = conn
                .lock()
                .map_err(|_| SyncError::Store("connection lock poisoned".into()))?;
            f(&c)
        })
        .await
        .map_err(|e| SyncError::Store(format!("blocking task failed: {e}")))?
    }

    async fn call<T: Send + 'static>(
        &self,
        client: &Arc<CentreClient>,
        f: impl FnOnce(&CentreClient) -> Result<T, SyncError> + Send + 'static,
    ) -> Result<T, SyncError> {
        self.update(|s| s.requests += 1);
        let client = client.clone();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .map_err(|e| SyncError::Transport(format!("request task failed: {e}")))?
    }

    pub async fn run(self) {
        let client = match CentreClient::new(&self.cfg, &self.hall_id) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "sync cannot start; the hall keeps working and keeps its events");
                self.update(|s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        let conn = match Connection::open(&self.database).and_then(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            Ok(c)
        }) {
            Ok(c) => Arc::new(Mutex::new(c)),
            Err(e) => {
                tracing::error!(error = %e, "sync cannot open the hall database");
                self.update(|s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        if let Ok(acked) = self.blocking(&conn, |c| read_acked(c).map_err(store_err)).await {
            self.update(|s| s.acked_seq = acked);
        }
        tracing::info!(centre = %self.cfg.centre, "sync to the centre started");
        let mut committed = self.engine.committed();
        let mut next_bundle = Instant::now();
        let mut failures: u32 = 0;
        loop {
            let err = self
                .session(&client, &conn, &mut committed, &mut next_bundle, &mut failures)
                .await;
            failures = failures.saturating_add(1);
            let wait = match err {
                // The centre told us where it stands: resume at once.
                SyncError::Gap { .. } if failures < 3 => Duration::ZERO,
                _ => backoff(failures, self.cfg.backoff_max),
            };
            tracing::warn!(error = %err, failures, retry_in_ms = wait.as_millis() as u64, "sync interrupted");
            self.update(|s| {
                s.connected = false;
                s.failures = failures;
                s.last_error = Some(err.to_string());
                s.next_retry_at = chrono::Duration::from_std(wait).ok().map(|w| Utc::now() + w);
            });
            self.check_alert(&conn).await;
            tokio::time::sleep(wait).await;
        }
    }

    /// One connection's life: ask the high-water mark, then ship and wait until
    /// something fails.
    async fn session(
        &self,
        client: &Arc<CentreClient>,
        conn: &Arc<Mutex<Connection>>,
        committed: &mut tokio::sync::watch::Receiver<i64>,
        next_bundle: &mut Instant,
        failures: &mut u32,
    ) -> SyncError {
        let mark = match self.call(client, |c| c.high_water()).await {
            Ok(h) => h,
            Err(e) => return e,
        };
        let mut acked = mark.high_water;
        // Events of another log numbered up to the centre's mark would be
        // taken for ones it holds and silently dropped: refuse to go on.
        let local = match self
            .blocking(conn, move |c| {
                let max: i64 = c
                    .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
                    .map_err(store_err)?;
                let at: Option<i64> = c
                    .query_row("SELECT at_ms FROM events WHERE seq = ?1", [acked], |r| r.get(0))
                    .optional()
                    .map_err(store_err)?;
                Ok((max, at))
            })
            .await
        {
            Ok(l) => l,
            Err(e) => return e,
        };
        if acked > local.0 {
            return SyncError::Diverged {
                centre: acked,
                why: format!("only up to {}", local.0),
            };
        }
        if acked > 0 && mark.last_at_ms.is_some() && local.1 != mark.last_at_ms {
            return SyncError::Diverged {
                centre: acked,
                why: format!("has a different event {acked}"),
            };
        }
        *failures = 0;
        tracing::info!(high_water = acked, "connected to the centre");
        if let Err(e) = self.record_ack(conn, acked).await {
            return e;
        }
        loop {
            if Instant::now() >= *next_bundle {
                if let Err(e) = self.pull_bundle(client).await {
                    return e;
                }
                *next_bundle = Instant::now() + self.cfg.bundle_poll;
            }
            // Mark what we have seen before reading, so a commit after the read wakes us.
            committed.borrow_and_update();
            let limit = self.cfg.batch;
            let events = match self.blocking(conn, move |c| read_outbox(c, acked, limit)).await {
                Ok(e) => e,
                Err(e) => return e,
            };
            if events.is_empty() {
                self.check_alert(conn).await;
                tokio::select! {
                    _ = committed.changed() => {}
                    _ = tokio::time::sleep_until(*next_bundle) => {}
                }
                continue;
            }
            let batch = Batch {
                hall_id: self.hall_id.clone(),
                after: acked,
                events,
            };
            let ack = match self.call(client, move |c| c.push(&batch)).await {
                Ok(a) => a,
                Err(e) => return e,
            };
            tracing::debug!(
                inserted = ack.inserted,
                high_water = ack.high_water,
                "batch acknowledged"
            );
            acked = ack.high_water;
            if let Err(e) = self.record_ack(conn, acked).await {
                return e;
            }
        }
    }

    async fn record_ack(&self, conn: &Arc<Mutex<Connection>>, acked: i64) -> Result<(), SyncError> {
        self.blocking(conn, move |c| write_acked(c, acked).map_err(store_err))
            .await?;
        self.update(|s| {
            s.connected = true;
            s.acked_seq = acked;
            s.last_contact = Some(Utc::now());
            s.last_error = None;
            s.failures = 0;
            s.next_retry_at = None;
        });
        Ok(())
    }

    /// Ask for a newer bundle and put it in force through the engine. A
    /// refused bundle is reported, not retried until the centre publishes another.
    async fn pull_bundle(&self, client: &Arc<CentreClient>) -> Result<(), SyncError> {
        let current = self.engine.current_setup().bundle_version;
        let refused = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.bundle_refused.as_ref().map(|(v, _)| *v))
            .unwrap_or(0);
        let Some(bundle) = self.call(client, move |c| c.bundle(current.max(refused))).await? else {
            return Ok(());
        };
        let version = bundle.version;
        // The hall display must be able to show every notice; a bundle it
        // cannot show is refused whole, like any other bad bundle.
        if let Some(problem) = bundle
            .notices
            .as_deref()
            .and_then(crate::display::font::unprintable_notices)
        {
            tracing::error!(%problem, "configuration bundle from the centre refused; the old configuration stays");
            self.update(|s| s.bundle_refused = Some((version, problem)));
            return Ok(());
        }
        match self.engine.apply_bundle(bundle).await {
            Ok(_) => {
                self.update(|s| s.bundle_refused = None);
                Ok(())
            }
            Err(EngineError::Bundle(e)) => {
                tracing::error!(error = %e, "configuration bundle from the centre refused; the old configuration stays");
                self.update(|s| s.bundle_refused = Some((version, e.to_string())));
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Log once when the oldest unsent event passes the alert threshold.
    async fn check_alert(&self, conn: &Arc<Mutex<Connection>>) {
        let state = match self.state.lock() {
            Ok(s) => s.clone(),
            Err(_) => return,
        };
        let Ok(r) = self
            .blocking(conn, move |c| report(&state, c, Utc::now()).map_err(store_err))
            .await
        else {
            return;
        };
        let was = self.state.lock().map(|s| s.alerting).unwrap_or(false);
        if r.alert && !was {
            tracing::warn!(
                backlog = r.backlog,
                oldest_unsent_age_s = r.oldest_unsent_age_s,
                "ALERT: events have not reached the centre for longer than the threshold"
            );
        } else if !r.alert && was {
            tracing::info!("sync backlog back under the alert threshold");
        }
        self.update(|s| s.alerting = r.alert);
    }
}

fn store_err(e: rusqlite::Error) -> SyncError {
    SyncError::Store(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_under_the_cap() {
        let max = Duration::from_secs(10);
        for f in 1..40 {
            let cap = Duration::from_millis(250)
                .saturating_mul(1 << (f - 1).min(20))
                .min(max);
            for _ in 0..50 {
                let w = backoff(f, max);
                assert!(w <= cap && w >= cap / 10, "{f}: {w:?} vs {cap:?}");
            }
        }
        let waits: std::collections::BTreeSet<_> = (0..20).map(|_| backoff(8, max)).collect();
        assert!(waits.len() > 1, "jitter spreads the retries");
    }

    #[test]
    fn bundles_go_through_the_engine_whole_or_not_at_all_and_survive_restarts() {
        use crate::domain::testkit::{setup_always_open, shared};
        use crate::domain::{Command, ConfigBundle};
        use crate::engine::{Engine, EngineError, SystemClock};
        use crate::store::Store;

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hall.db");
        let open = || {
            let store = Store::open(&db, "test").unwrap();
            Engine::open(shared(setup_always_open()), store, Box::new(SystemClock)).unwrap()
        };
        let mut e = open();
        let good = ConfigBundle {
            version: 2,
            catalog: None,
            calendars: None,
            notices: Some(vec!["新政策".into()]),
            staff: Some(vec!["S001".into()]),
        };
        let done = e.apply_bundle(&good).unwrap();
        assert!(done.seq > 0, "recorded as an event");
        let login = |e: &mut Engine, staff: &str| {
            e.execute(&Command::Login {
                window: 1,
                staff: staff.into(),
            })
        };
        let err = login(&mut e, "S999").unwrap_err();
        assert!(err.to_string().contains("S999"), "{err}");
        // A bad bundle (a broken calendar) changes nothing: notices and staff stay.
        let bad = ConfigBundle {
            version: 3,
            notices: Some(vec!["另一条".into()]),
            calendars: Some(vec!["year = 1".into()]),
            ..good.clone()
        };
        assert!(matches!(e.apply_bundle(&bad), Err(EngineError::Bundle(_))));
        assert_eq!(e.hall().setup.notices, ["新政策"]);
        assert_eq!(e.hall().setup.bundle_version, 2);
        // The same version again is refused too.
        assert!(matches!(e.apply_bundle(&good), Err(EngineError::Bundle(_))));
        drop(e); // a power cut: no shutdown snapshot
        let mut e = open();
        assert_eq!(e.hall().setup.bundle_version, 2);
        assert_eq!(e.hall().setup.notices, ["新政策"]);
        assert!(login(&mut e, "S999").is_err());
        login(&mut e, "S001").unwrap();
        // After a snapshot the bundle still comes back (from the store, not the replay).
        let (handle, thread) = e.spawn();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(handle.shutdown());
        thread.join().unwrap();
        let e = open();
        assert_eq!(e.hall().setup.staff.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn the_secret_never_shows() {
        let s = Secret::new("hq_very_secret".into());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let cfg = SyncConfig {
            centre: "https://c".into(),
            token: s,
            ca_file: None,
            client_cert: None,
            batch: 1,
            backoff_max: Duration::from_secs(1),
            alert_after: Duration::from_secs(1),
            bundle_poll: Duration::from_secs(1),
        };
        assert!(!format!("{cfg:?}").contains("very_secret"));
    }
}
