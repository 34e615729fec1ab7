//! Start-up and shutdown of the hall daemon, shared by `hallqd` and the tests.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::config::Config;
use crate::devices::sim;
use crate::engine::{Engine, SystemClock};
use crate::store::Store;
use crate::sync::SyncTask;

/// What can stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: crate::store::StoreError,
    },
    #[error("devices: {0}")]
    Devices(#[from] crate::devices::DeviceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Run the hall until `shutdown` completes: open the store, rebuild the hall,
/// serve the API. `on_listening` is told the bound address.
pub async fn run(
    config: Config,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let store = Store::open(&config.database, &config.setup.hall_id).map_err(|source| StartError::Store {
        path: config.database.clone(),
        source,
    })?;
    let engine = Engine::open(config.setup.clone(), store, Box::new(SystemClock)).map_err(|source| {
        StartError::Store {
            path: config.database.clone(),
            source,
        }
    })?;
    let (handle, thread) = engine.spawn();
    let devices = sim::attach(&handle).await;
    let display = config.display.as_ref().map(|d| crate::display::start(&handle, d));
    let _voice = config.voice.as_ref().map(|v| crate::voice::start(&handle, v));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    // The configured device drivers; kept for the life of the daemon.
    let _drivers = match crate::devices::start(&handle, &config.devices).await {
        Ok(d) => d,
        Err(e) => {
            handle.shutdown().await;
            return Err(e.into());
        }
    };
    tracing::info!(%addr, hall = %config.setup.hall_id, "hall API listening");
    on_listening(addr);
    let mut state =
        AppState::new(handle.clone(), config.database.clone(), devices).with_display(display.clone());
    let sync = config.sync.clone().map(|cfg| {
        let (task, shared) = SyncTask::new(
            cfg,
            config.setup.hall_id.clone(),
            &config.database,
            handle.clone(),
        );
        state = state.clone().with_sync(shared);
        tokio::spawn(task.run())
    });
    let app = router(state);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "API server failed");
    }
    if let Some(d) = &display {
        d.stop();
    }
    if let Some(task) = sync {
        task.abort();
    }
    handle.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    tracing::info!("hall daemon stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
