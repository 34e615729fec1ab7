//! The centre's storage: PostgreSQL in production, SQLite as the zero-setup
//! default. Both keep the same tables and answer the same questions; the
//! events table's primary key (hall_id, seq) with `ON CONFLICT DO NOTHING`
//! makes ingest idempotent, and each hall's high-water mark moves in the same
//! transaction as its events.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, OptionalExtension};

use crate::domain::ConfigBundle;
use crate::sync::wire::WireEvent;

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no hall `{0}`: register it with `hallq-central hall add`")]
    UnknownHall(String),
    #[error("hall `{0}` is already registered")]
    HallExists(String),
    #[error("the centre holds hall events only up to {high_water}; the batch starts after {after}")]
    Gap { after: i64, high_water: i64 },
    #[error("bad batch: {0}")]
    BadBatch(String),
    #[error("bad database address `{0}`: use sqlite:PATH or postgres:CONNINFO")]
    BadUrl(String),
    #[error("storage task failed: {0}")]
    Task(String),
    #[error("stored data cannot be read back: {0}")]
    Corrupt(String),
}

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Hall(String),
    Admin(String),
}

/// A registered hall.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HallRow {
    pub id: String,
    pub name: String,
    pub tz: String,
    pub high_water: i64,
    /// When the hall's last batch arrived (ms since the epoch), if ever.
    pub last_batch_ms: Option<i64>,
    pub active_tokens: i64,
}

/// An event as the centre holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub body: String,
}

/// Where the centre keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::str::FromStr for DbUrl {
    type Err = CentralError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("sqlite:") {
            Ok(DbUrl::Sqlite(PathBuf::from(p)))
        } else if let Some(c) = s.strip_prefix("postgres:") {
            Ok(DbUrl::Postgres(c.to_string()))
        } else if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            Ok(DbUrl::Postgres(s.to_string()))
        } else {
            Err(CentralError::BadUrl(s.to_string()))
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS halls (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    tz            TEXT NOT NULL,
    high_water    BIGINT NOT NULL DEFAULT 0,
    -- When the hall's last batch arrived: a hall silent for long is offline.
    last_batch_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    token_hash    TEXT PRIMARY KEY,
    hall_id       TEXT REFERENCES halls (id),
    admin_name    TEXT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE TABLE IF NOT EXISTS events (
    hall_id        TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    at_ms          BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    body           TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (hall_id, seq)
);
CREATE INDEX IF NOT EXISTS events_at ON events (hall_id, at_ms);
";

const SQLITE_BUNDLES: &str = "
CREATE TABLE IF NOT EXISTS bundles (
    version       INTEGER PRIMARY KEY AUTOINCREMENT,
    hall_id       TEXT REFERENCES halls (id),
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);";

const PG_BUNDLES: &str = "
CREATE TABLE IF NOT EXISTS bundles (
    version       BIGSERIAL PRIMARY KEY,
    hall_id       TEXT REFERENCES halls (id),
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Merge the bundles for one hall (oldest first) into the one a hall should
/// apply; `None` if the newest is not above `after`.
fn merge_bundles(rows: Vec<(i64, String)>, after: i64) -> Result<Option<ConfigBundle>, CentralError> {
    let Some(latest) = rows.last().map(|r| r.0) else {
        return Ok(None);
    };
    if latest <= after {
        return Ok(None);
    }
    let mut merged: Option<ConfigBundle> = None;
    for (version, body) in rows {
        let mut b: ConfigBundle = serde_json::from_str(&body)
            .map_err(|e| CentralError::Corrupt(format!("bundle {version}: {e}")))?;
        b.version = version;
        merged = Some(match merged {
            Some(m) => m.merged_with(&b),
            None => b,
        });
    }
    Ok(merged)
}

fn check_batch(events: &[WireEvent], after: i64) -> Result<(), CentralError> {
    let mut prev = after;
    for e in events {
        if e.seq <= prev {
            return Err(CentralError::BadBatch(format!(
                "sequence numbers must increase and follow `after` ({after}): {} after {prev}",
                e.seq
            )));
        }
        prev = e.seq;
    }
    Ok(())
}

/// The centre's storage, shared by every request.
#[derive(Clone)]
pub enum CentralStore {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(Arc<PgPool>),
}

impl CentralStore {
    /// Open (creating the tables if needed).
    pub async fn open(url: &DbUrl) -> Result<CentralStore, CentralError> {
        match url {
            DbUrl::Sqlite(path) => {
                let path = path.clone();
                let conn = tokio::task::spawn_blocking(move || open_sqlite(&path))
                    .await
                    .map_err(|e| CentralError::Task(e.to_string()))??;
                Ok(CentralStore::Sqlite(Arc::new(Mutex::new(conn))))
            }
            DbUrl::Postgres(conninfo) => {
                Ok(CentralStore::Postgres(Arc::new(PgPool::open(conninfo, 8).await?)))
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CentralStore::Sqlite(_) => "sqlite",
            CentralStore::Postgres(_) => "postgres",
        }
    }

    async fn sqlite<T: Send + 'static>(
        conn: &Arc<Mutex<rusqlite::Connection>>,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, CentralError> + Send + 'static,
    ) -> Result<T, CentralError> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| CentralError::Task("SQLite lock poisoned".into()))?;
            f(&mut c)
        })
        .await
        .map_err(|e| CentralError::Task(e.to_string()))?
    }

    /// Register a hall with its first token's hash.
    pub async fn add_hall(
        &self,
        id: &str,
        name: &str,
        tz: &str,
        token_hash: &str,
    ) -> Result<(), CentralError> {
        let (id, name, tz, hash) = (
            id.to_string(),
            name.to_string(),
            tz.to_string(),
            token_hash.to_string(),
        );
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let n = tx.execute(
                        "INSERT INTO halls (id, name, tz, created_at_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                        params![id, name, tz, now_ms()],
                    )?;
                    if n == 0 {
                        return Err(CentralError::HallExists(id));
                    }
                    tx.execute(
                        "INSERT INTO credentials (token_hash, hall_id, created_at_ms) VALUES (?1, ?2, ?3)",
                        params![hash, id, now_ms()],
                    )?;
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            CentralStore::Postgres(p) => {
                let mut conn = p.any().await?;
                let tx = conn.client.transaction().await?;
                let n = tx
                    .execute(
                        "INSERT INTO halls (id, name, tz, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[&id, &name, &tz, &now_ms()],
                    )
                    .await?;
                if n == 0 {
                    return Err(CentralError::HallExists(id));
                }
                tx.execute(
                    "INSERT INTO credentials (token_hash, hall_id, created_at_ms) VALUES ($1, $2, $3)",
                    &[&hash, &id, &now_ms()],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Issue another token for a registered hall (after a revoke).
    pub async fn add_hall_token(&self, id: &str, token_hash: &str) -> Result<(), CentralError> {
        if self.hall(id).await?.is_none() {
            return Err(CentralError::UnknownHall(id.to_string()));
        }
        let (id, hash) = (id.to_string(), token_hash.to_string());
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    c.execute(
                        "INSERT INTO credentials (token_hash, hall_id, created_at_ms) VALUES (?1, ?2, ?3)",
                        params![hash, id, now_ms()],
                    )?;
                    Ok(())
                })
                .await
            }
            CentralStore::Postgres(p) => {
                p.any()
                    .await?
                    .client
                    .execute(
                        "INSERT INTO credentials (token_hash, hall_id, created_at_ms) VALUES ($1, $2, $3)",
                        &[&hash, &id, &now_ms()],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// An administrator's token (reports, bundles, reading events).
    pub async fn add_admin(&self, name: &str, token_hash: &str) -> Result<(), CentralError> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    c.execute(
                        "INSERT INTO credentials (token_hash, admin_name, created_at_ms) VALUES (?1, ?2, ?3)",
                        params![hash, name, now_ms()],
                    )?;
                    Ok(())
                })
                .await
            }
            CentralStore::Postgres(p) => {
                p.any()
                    .await?
                    .client
                    .execute(
                        "INSERT INTO credentials (token_hash, admin_name, created_at_ms) VALUES ($1, $2, $3)",
                        &[&hash, &name, &now_ms()],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Revoke every token of a hall; returns how many were active.
    pub async fn revoke_hall(&self, id: &str) -> Result<u64, CentralError> {
        if self.hall(id).await?.is_none() {
            return Err(CentralError::UnknownHall(id.to_string()));
        }
        let id = id.to_string();
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    Ok(c.execute(
                    "UPDATE credentials SET revoked_at_ms = ?2 WHERE hall_id = ?1 AND revoked_at_ms IS NULL",
                    params![id, now_ms()],
                )? as u64)
                })
                .await
            }
            CentralStore::Postgres(p) => Ok(p
                .any()
                .await?
                .client
                .execute(
                    "UPDATE credentials SET revoked_at_ms = $2 WHERE hall_id = $1 AND revoked_at_ms IS NULL",
                    &[&id, &now_ms()],
                )
                .await?),
        }
    }

    /// Whose token has this hash (revoked tokens belong to nobody).
    pub async fn principal(&self, token_hash: &str) -> Result<Option<Principal>, CentralError> {
        let hash = token_hash.to_string();
        let row: Option<(Option<String>, Option<String>)> = match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    Ok(c.prepare_cached(
                        "SELECT hall_id, admin_name FROM credentials WHERE token_hash = ?1 AND revoked_at_ms IS NULL",
                    )?
                    .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?)
                })
                .await?
            }
            CentralStore::Postgres(p) => {
                let conn = p.any().await?;
                conn.client
                    .query_opt(&conn.principal, &[&hash])
                    .await?
                    .map(|r| (r.get(0), r.get(1)))
            }
        };
        Ok(match row {
            Some((Some(h), _)) => Some(Principal::Hall(h)),
            Some((None, Some(a))) => Some(Principal::Admin(a)),
            _ => None,
        })
    }

    pub async fn hall(&self, id: &str) -> Result<Option<HallRow>, CentralError> {
        Ok(self.halls().await?.into_iter().find(|h| h.id == id))
    }

    pub async fn halls(&self) -> Result<Vec<HallRow>, CentralError> {
        const Q: &str = "SELECT h.id, h.name, h.tz, h.high_water,
                (SELECT COUNT(*) FROM credentials c WHERE c.hall_id = h.id AND c.revoked_at_ms IS NULL),
                h.last_batch_ms
             FROM halls h ORDER BY h.id";
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, |c| {
                    let mut st = c.prepare_cached(Q)?;
                    let rows = st.query_map([], |r| {
                        Ok(HallRow {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            tz: r.get(2)?,
                            high_water: r.get(3)?,
                            active_tokens: r.get(4)?,
                            last_batch_ms: r.get(5)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            CentralStore::Postgres(p) => Ok(p
                .any()
                .await?
                .client
                .query(Q, &[])
                .await?
                .iter()
                .map(|r| HallRow {
                    id: r.get(0),
                    name: r.get(1),
                    tz: r.get(2),
                    high_water: r.get(3),
                    active_tokens: r.get(4),
                    last_batch_ms: r.get(5),
                })
                .collect()),
        }
    }

    pub async fn high_water(&self, hall: &str) -> Result<i64, CentralError> {
        Ok(self.high_water_mark(hall).await?.0)
    }

    /// The high-water mark and the commit time of the event at it: the hall
    /// compares that time with its own event of the same number, to tell a
    /// replaced database from the one the centre has been receiving.
    pub async fn high_water_mark(&self, hall: &str) -> Result<(i64, Option<i64>), CentralError> {
        const Q_LITE: &str = "SELECT h.high_water, e.at_ms FROM halls h
             LEFT JOIN events e ON e.hall_id = h.id AND e.seq = h.high_water WHERE h.id = ?1";
        const Q_PG: &str = "SELECT h.high_water, e.at_ms FROM halls h
             LEFT JOIN events e ON e.hall_id = h.id AND e.seq = h.high_water WHERE h.id = $1";
        let id = hall.to_string();
        let hw: Option<(i64, Option<i64>)> = match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    Ok(c.prepare_cached(Q_LITE)?
                        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?)
                })
                .await?
            }
            CentralStore::Postgres(p) => p
                .for_hall(hall)
                .await?
                .client
                .query_opt(Q_PG, &[&id])
                .await?
                .map(|r| (r.get(0), r.get(1))),
        };
        hw.ok_or_else(|| CentralError::UnknownHall(hall.to_string()))
    }

    /// Store a batch (idempotent by (hall, seq)); returns (inserted, new high-water mark).
    pub async fn ingest(
        &self,
        hall: &str,
        after: i64,
        events: Vec<WireEvent>,
    ) -> Result<(u64, i64), CentralError> {
        check_batch(&events, after)?;
        let id = hall.to_string();
        let received = now_ms();
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let hw: i64 = tx
                        .prepare_cached("SELECT high_water FROM halls WHERE id = ?1")?
                        .query_row([&id], |r| r.get(0))
                        .optional()?
                        .ok_or_else(|| CentralError::UnknownHall(id.clone()))?;
                    if after > hw {
                        return Err(CentralError::Gap {
                            after,
                            high_water: hw,
                        });
                    }
                    let mut inserted = 0u64;
                    {
                        let mut ins = tx.prepare_cached(
                            "INSERT INTO events (hall_id, seq, at_ms, kind, body, received_at_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                        )?;
                        for e in events.iter().filter(|e| e.seq > hw) {
                            inserted +=
                                ins.execute(params![id, e.seq, e.at_ms, e.kind, e.body.get(), received])?
                                    as u64;
                        }
                    }
                    let new_hw = events.last().map_or(hw, |e| e.seq.max(hw));
                    tx.prepare_cached("UPDATE halls SET high_water = ?2, last_batch_ms = ?3 WHERE id = ?1")?
                        .execute(params![id, new_hw, received])?;
                    tx.commit()?;
                    Ok((inserted, new_hw))
                })
                .await
            }
            CentralStore::Postgres(p) => {
                let mut conn = p.for_hall(hall).await?;
                let PgConn {
                    client,
                    ingest,
                    lock,
                    bump,
                    ..
                } = &mut *conn;
                let tx = client.transaction().await?;
                let hw: i64 = tx
                    .query_opt(&*lock, &[&id])
                    .await?
                    .map(|r| r.get(0))
                    .ok_or_else(|| CentralError::UnknownHall(id.clone()))?;
                if after > hw {
                    return Err(CentralError::Gap {
                        after,
                        high_water: hw,
                    });
                }
                let fresh: Vec<&WireEvent> = events.iter().filter(|e| e.seq > hw).collect();
                let seqs: Vec<i64> = fresh.iter().map(|e| e.seq).collect();
                let ats: Vec<i64> = fresh.iter().map(|e| e.at_ms).collect();
                let kinds: Vec<&str> = fresh.iter().map(|e| e.kind.as_str()).collect();
                let bodies: Vec<&str> = fresh.iter().map(|e| e.body.get()).collect();
                let inserted = if seqs.is_empty() {
                    0
                } else {
                    tx.execute(&*ingest, &[&id, &seqs, &ats, &kinds, &bodies, &received])
                        .await?
                };
                let new_hw = events.last().map_or(hw, |e| e.seq.max(hw));
                tx.execute(&*bump, &[&id, &new_hw, &received]).await?;
                tx.commit().await?;
                Ok((inserted, new_hw))
            }
        }
    }

    /// A hall's events with `seq > after`, in order, at most `limit`.
    pub async fn events(&self, hall: &str, after: i64, limit: i64) -> Result<Vec<StoredEvent>, CentralError> {
        let id = hall.to_string();
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare_cached(
                        "SELECT seq, at_ms, kind, body FROM events WHERE hall_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    )?;
                    let rows = st.query_map(params![id, after, limit], |r| {
                        Ok(StoredEvent {
                            seq: r.get(0)?,
                            at_ms: r.get(1)?,
                            kind: r.get(2)?,
                            body: r.get(3)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            CentralStore::Postgres(p) => Ok(p
                .any()
                .await?
                .client
                .query(
                    "SELECT seq, at_ms, kind, body FROM events WHERE hall_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[&id, &after, &limit],
                )
                .await?
                .iter()
                .map(|r| StoredEvent {
                    seq: r.get(0),
                    at_ms: r.get(1),
                    kind: r.get(2),
                    body: r.get(3),
                })
                .collect()),
        }
    }

    /// A hall's events of the given kinds committed in `[from_ms, to_ms)`, in order.
    pub async fn events_between(
        &self,
        hall: &str,
        from_ms: i64,
        to_ms: i64,
        kinds: &[&str],
    ) -> Result<Vec<StoredEvent>, CentralError> {
        let id = hall.to_string();
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare_cached(
                        "SELECT seq, at_ms, kind, body FROM events
                         WHERE hall_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY seq",
                    )?;
                    let rows = st.query_map(params![id, from_ms, to_ms], |r| {
                        Ok(StoredEvent {
                            seq: r.get(0)?,
                            at_ms: r.get(1)?,
                            kind: r.get(2)?,
                            body: r.get(3)?,
                        })
                    })?;
                    let mut out = Vec::new();
                    for r in rows {
                        let r = r?;
                        if kinds.contains(&r.kind) {
                            out.push(r);
                        }
                    }
                    Ok(out)
                })
                .await
            }
            CentralStore::Postgres(p) => Ok(p
                .any()
                .await?
                .client
                .query(
                    "SELECT seq, at_ms, kind, body FROM events
                     WHERE hall_id = $1 AND at_ms >= $2 AND at_ms < $3 AND kind = ANY($4) ORDER BY seq",
                    &[&id, &from_ms, &to_ms, &kinds],
                )
                .await?
                .iter()
                .map(|r| StoredEvent {
                    seq: r.get(0),
                    at_ms: r.get(1),
                    kind: r.get(2),
                    body: r.get(3),
                })
                .collect()),
        }
    }

    /// Publish a bundle for one hall (or all when `hall` is `None`); returns its version.
    pub async fn publish_bundle(
        &self,
        hall: Option<&str>,
        bundle: &ConfigBundle,
    ) -> Result<i64, CentralError> {
        if let Some(h) = hall {
            if self.hall(h).await?.is_none() {
                return Err(CentralError::UnknownHall(h.to_string()));
            }
        }
        let hall = hall.map(str::to_string);
        let body = serde_json::to_string(&ConfigBundle {
            version: 0,
            ..bundle.clone()
        })
        .expect("bundles serialise");
        match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    c.execute(
                        "INSERT INTO bundles (hall_id, body, created_at_ms) VALUES (?1, ?2, ?3)",
                        params![hall, body, now_ms()],
                    )?;
                    Ok(c.last_insert_rowid())
                })
                .await
            }
            CentralStore::Postgres(p) => Ok(p
                .any()
                .await?
                .client
                .query_one(
                    "INSERT INTO bundles (hall_id, body, created_at_ms) VALUES ($1, $2, $3) RETURNING version",
                    &[&hall, &body, &now_ms()],
                )
                .await?
                .get(0)),
        }
    }

    /// The bundle a hall should apply if it has `after`: every bundle for it
    /// (and for all halls) merged, versioned as the newest; `None` if nothing newer.
    pub async fn bundle_for(&self, hall: &str, after: i64) -> Result<Option<ConfigBundle>, CentralError> {
        const Q_LITE: &str =
            "SELECT version, body FROM bundles WHERE hall_id = ?1 OR hall_id IS NULL ORDER BY version";
        let id = hall.to_string();
        let rows: Vec<(i64, String)> = match self {
            CentralStore::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare_cached(Q_LITE)?;
                    let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await?
            }
            CentralStore::Postgres(p) => p
                .any()
                .await?
                .client
                .query(
                    "SELECT version, body FROM bundles WHERE hall_id = $1 OR hall_id IS NULL ORDER BY version",
                    &[&id],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        };
        merge_bundles(rows, after)
    }
}

fn open_sqlite(path: &Path) -> Result<rusqlite::Connection, CentralError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CentralError::Task(format!("{}: {e}", dir.display())))?;
    }
    let c = rusqlite::Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL: a power cut may lose the last commits, never corrupt. Halls ask
    // for the high-water mark on every reconnect and send those events again.
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    c.execute_batch(SCHEMA)?;
    c.execute_batch(SQLITE_BUNDLES)?;
    Ok(c)
}

/// One PostgreSQL connection with its prepared statements.
pub struct PgConn {
    client: tokio_postgres::Client,
    ingest: tokio_postgres::Statement,
    lock: tokio_postgres::Statement,
    bump: tokio_postgres::Statement,
    principal: tokio_postgres::Statement,
}

impl PgConn {
    async fn connect(conninfo: &str) -> Result<PgConn, CentralError> {
        let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        let ingest = client
            .prepare(
                "INSERT INTO events (hall_id, seq, at_ms, kind, body, received_at_ms)
                 SELECT $1, s, a, k, b, $6
                 FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[]) AS t (s, a, k, b)
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        let lock = client
            .prepare("SELECT high_water FROM halls WHERE id = $1 FOR UPDATE")
            .await?;
        let bump = client
            .prepare("UPDATE halls SET high_water = $2, last_batch_ms = $3 WHERE id = $1")
            .await?;
        let principal = client
            .prepare(
                "SELECT hall_id, admin_name FROM credentials WHERE token_hash = $1 AND revoked_at_ms IS NULL",
            )
            .await?;
        Ok(PgConn {
            client,
            ingest,
            lock,
            bump,
            principal,
        })
    }
}

/// A small fixed pool. A hall's batches always use the same connection, so
/// they queue behind each other instead of waiting on the hall's row lock.
pub struct PgPool {
    conninfo: String,
    conns: Vec<tokio::sync::Mutex<Option<PgConn>>>,
    next: AtomicUsize,
}

type PgGuard<'a> = tokio::sync::MappedMutexGuard<'a, PgConn>;

impl PgPool {
    pub async fn open(conninfo: &str, size: usize) -> Result<PgPool, CentralError> {
        {
            // The tables first: the pooled connections prepare statements on them.
            let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
            let task = tokio::spawn(connection);
            client.batch_execute(SCHEMA).await?;
            client.batch_execute(PG_BUNDLES).await?;
            drop(client);
            let _ = task.await;
        }
        let first = PgConn::connect(conninfo).await?;
        let mut conns = vec![tokio::sync::Mutex::new(Some(first))];
        for _ in 1..size {
            conns.push(tokio::sync::Mutex::new(None));
        }
        Ok(PgPool {
            conninfo: conninfo.to_string(),
            conns,
            next: AtomicUsize::new(0),
        })
    }

    async fn get(&self, i: usize) -> Result<PgGuard<'_>, CentralError> {
        let mut g = self.conns[i % self.conns.len()].lock().await;
        if g.as_ref().is_none_or(|c| c.client.is_closed()) {
            *g = Some(PgConn::connect(&self.conninfo).await?);
        }
        Ok(tokio::sync::MutexGuard::map(g, |c| {
            c.as_mut().expect("connected above")
        }))
    }

    async fn any(&self) -> Result<PgGuard<'_>, CentralError> {
        self.get(self.next.fetch_add(1, Ordering::Relaxed)).await
    }

    async fn for_hall(&self, hall: &str) -> Result<PgGuard<'_>, CentralError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hall.hash(&mut h);
        self.get(h.finish() as usize).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64) -> WireEvent {
        WireEvent {
            seq,
            at_ms: 1_700_000_000_000 + seq,
            kind: "stray_press".into(),
            body: serde_json::value::RawValue::from_string(format!(
                r#"{{"type":"stray_press","window":1,"key":{seq},"reason":"no_rating_window"}}"#
            ))
            .unwrap(),
        }
    }

    async fn exercise(store: &CentralStore, hall: &str) {
        store
            .add_hall(hall, "测试", "Asia/Shanghai", &format!("hash-{hall}"))
            .await
            .unwrap();
        assert!(matches!(
            store.add_hall(hall, "x", "Asia/Shanghai", "other").await,
            Err(CentralError::HallExists(_))
        ));
        assert_eq!(
            store.principal(&format!("hash-{hall}")).await.unwrap(),
            Some(Principal::Hall(hall.into()))
        );
        assert_eq!(store.high_water(hall).await.unwrap(), 0);
        assert_eq!(store.hall(hall).await.unwrap().unwrap().last_batch_ms, None);
        assert_eq!(
            store.ingest(hall, 0, (1..=5).map(ev).collect()).await.unwrap(),
            (5, 5)
        );
        // The same batch again, and an overlapping one: each event once.
        assert_eq!(
            store.ingest(hall, 0, (1..=5).map(ev).collect()).await.unwrap(),
            (0, 5)
        );
        assert_eq!(
            store.ingest(hall, 3, (4..=8).map(ev).collect()).await.unwrap(),
            (3, 8)
        );
        assert_eq!(store.high_water_mark(hall).await.unwrap(), (8, Some(ev(8).at_ms)));
        // A hole is refused with the high-water mark.
        assert!(matches!(
            store.ingest(hall, 10, (11..=12).map(ev).collect()).await,
            Err(CentralError::Gap { high_water: 8, .. })
        ));
        assert!(matches!(
            store.ingest(hall, 8, vec![ev(10), ev(9)]).await,
            Err(CentralError::BadBatch(_))
        ));
        assert!(store.hall(hall).await.unwrap().unwrap().last_batch_ms.is_some());
        let got = store.events(hall, 0, 100).await.unwrap();
        assert_eq!(
            got.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        assert_eq!(store.revoke_hall(hall).await.unwrap(), 1);
        assert_eq!(store.principal(&format!("hash-{hall}")).await.unwrap(), None);

        let b = ConfigBundle {
            version: 0,
            catalog: None,
            calendars: None,
            notices: Some(vec!["n1".into()]),
            staff: Some(vec!["S1".into()]),
        };
        let v1 = store.publish_bundle(None, &b).await.unwrap();
        let v2 = store
            .publish_bundle(
                Some(hall),
                &ConfigBundle {
                    notices: Some(vec!["n2".into()]),
                    staff: None,
                    ..b.clone()
                },
            )
            .await
            .unwrap();
        assert!(v2 > v1);
        let got = store.bundle_for(hall, 0).await.unwrap().unwrap();
        assert_eq!(got.version, v2);
        assert_eq!(got.notices, Some(vec!["n2".into()]));
        assert_eq!(got.staff, Some(vec!["S1".into()]), "older parts are merged in");
        assert_eq!(store.bundle_for(hall, v2).await.unwrap(), None);
    }

    #[tokio::test]
    async fn sqlite_store_is_idempotent_and_refuses_holes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CentralStore::open(&DbUrl::Sqlite(dir.path().join("c.db")))
            .await
            .unwrap();
        exercise(&store, "h1").await;
    }

    #[tokio::test]
    async fn postgres_store_is_idempotent_and_refuses_holes() {
        let Ok(conninfo) = std::env::var("HALLQ_TEST_PG") else {
            eprintln!("HALLQ_TEST_PG is not set: skipping the PostgreSQL store test");
            return;
        };
        let db = super::super::testpg::fresh_database(&conninfo)
            .await
            .unwrap_or_else(|e| panic!("HALLQ_TEST_PG: cannot make a scratch database: {e}"));
        let store = CentralStore::open(&DbUrl::Postgres(db)).await.unwrap();
        exercise(&store, "h1").await;
    }
}
