//! Scratch PostgreSQL databases for tests and benches: `HALLQ_TEST_PG` names
//! a server (a libpq connection string without `dbname`, e.g.
//! `host=/var/run/postgresql user=postgres`); each caller gets a fresh
//! database on it, so runs never see each other's data.

use std::sync::atomic::{AtomicU32, Ordering};

/// Create a fresh, empty database and return the connection string for it.
pub async fn fresh_database(server: &str) -> Result<String, tokio_postgres::Error> {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "hallq_test_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) =
        tokio_postgres::connect(&format!("{server} dbname=postgres"), tokio_postgres::NoTls).await?;
    let task = tokio::spawn(conn);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    let _ = task.await;
    Ok(format!("{server} dbname={name}"))
}
