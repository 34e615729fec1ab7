//! In-process hall for device tests: the real engine and store on a
//! throw-away database, with the real drivers attached to emulated devices on
//! pseudo-terminals.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallq::config::Config;
use hallq::devices::emulator::Watched;
use hallq::engine::{Engine, EngineHandle, SystemClock};
use hallq::store::Store;

pub struct Hall {
    pub engine: EngineHandle,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hall {
    /// The test hall of `super::write_hall_config`, with `extra` rules TOML.
    pub fn start() -> Hall {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg_path = super::write_hall_config(dir.path(), "");
        let config = Config::load(&cfg_path).expect("test config loads");
        let db = dir.path().join("hall.db");
        let store = Store::open(&db, &config.setup.hall_id).expect("store");
        let engine = Engine::open(config.setup.clone(), store, Box::new(SystemClock)).expect("engine");
        let (engine, thread) = engine.spawn();
        Hall {
            engine,
            db,
            dir,
            thread: Some(thread),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Event kinds in the log, in order.
    pub fn event_kinds(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(&self.db).expect("read db");
        let mut st = conn
            .prepare("SELECT kind FROM events ORDER BY seq")
            .expect("prepare");
        st.query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    }

    pub async fn stop(mut self) {
        self.engine.shutdown().await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Wait (at most `limit`) for a condition on an emulator's model, off the runtime.
pub async fn until<T: Send + 'static>(
    model: &Arc<Watched<T>>,
    limit: Duration,
    cond: impl FnMut(&T) -> bool + Send + 'static,
) -> bool {
    let m = model.clone();
    tokio::task::spawn_blocking(move || m.wait_for(limit, cond))
        .await
        .expect("waiting task")
}

/// Poll `cond` (every 5 ms) until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // poll interval, bounded by the deadline
    }
    cond()
}

/// Same, for async conditions.
pub async fn eventually_async<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // poll interval, bounded by the deadline
    }
    cond().await
}

pub fn link(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
