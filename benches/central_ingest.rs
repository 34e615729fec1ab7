//! The central server's ingest: events per second into PostgreSQL and into
//! SQLite, straight into the store and end to end over HTTP, and the time for
//! many simulated halls to push a day of events each, concurrently.
//!
//! Run: `cargo bench --features central --bench central_ingest`.
//! PostgreSQL is measured when `HALLQ_TEST_PG` names a server (a fresh
//! database is made on it). Scale with `HALLQ_BENCH_HALLS` (default 500),
//! `HALLQ_BENCH_EVENTS` (events per hall, default 20 000: a busy hall's day),
//! `HALLQ_BENCH_BATCH` (default 500, the halls' default) and
//! `HALLQ_BENCH_CLIENTS` (client threads, default 50). Everything — server,
//! database and the simulated halls — shares this machine's cores.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hallq::central::store::{CentralStore, DbUrl};
use hallq::central::{new_token, token_hash};
use hallq::sync::wire::{Batch, WireEvent};
use serde_json::value::RawValue;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A realistic event body for sequence `seq` (the four kinds a served
/// citizen leaves, in turn), as the hall commits them.
fn event(seq: i64, t0_ms: i64) -> WireEvent {
    let at_ms = t0_ms + seq * 1500;
    let at = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339();
    let n = seq / 4 + 1;
    let (kind, body) = match seq % 4 {
        1 => (
            "ticket_issued",
            format!(
                r#"{{"type":"ticket_issued","ahead":3,"estimated_wait_s":540,"ticket":{{"called_at":null,"class":"normal","day":"2026-12-07","id":{n},"issued_at":"{at}","label":"B{n:03}","number":{n},"origin_queue":"B","queue":"B","recalls":0,"state":{{"state":"waiting"}},"target_window":null,"transfers":0}}}}"#
            ),
        ),
        2 => (
            "ticket_called",
            format!(
                r#"{{"type":"ticket_called","label":"B{n:03}","next":true,"staff":"S001","ticket":{n},"window":2}}"#
            ),
        ),
        3 => (
            "transaction_recorded",
            format!(
                r#"{{"type":"transaction_recorded","rating_until":"{at}","transaction":{{"finished_at":"{at}","id":{n},"items":[18],"label":"B{n:03}","outcome":{{"due":"2026-12-10","kind":"accepted"}},"queue":"B","staff":"S001","started_at":"{at}","ticket":{n},"window":2}}}}"#
            ),
        ),
        _ => (
            "rated",
            format!(r#"{{"type":"rated","key":1,"level":"满意","transaction":{n},"window":2}}"#),
        ),
    };
    WireEvent {
        seq,
        at_ms,
        kind: kind.to_string(),
        body: RawValue::from_string(body).unwrap(),
    }
}

fn batch(hall: &str, after: i64, n: i64, t0: i64) -> Batch {
    Batch {
        hall_id: hall.to_string(),
        after,
        events: (after + 1..=after + n).map(|s| event(s, t0)).collect(),
    }
}

/// Register `halls` halls; returns their tokens.
async fn register(store: &CentralStore, halls: usize, prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..halls {
        let id = format!("{prefix}-{i:04}");
        let token = new_token();
        store
            .add_hall(&id, &id, "Asia/Shanghai", &token_hash(&token))
            .await
            .unwrap();
        out.push((id, token));
    }
    out
}

/// Straight into the store, one hall after another: the database's own rate.
async fn store_rate(store: &CentralStore, total: i64, batch_size: i64) -> f64 {
    let halls = register(store, 4, "direct").await;
    let t0 = chrono::Utc::now().timestamp_millis();
    let per_hall = total / halls.len() as i64;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (id, _) in halls {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut after = 0;
            while after < per_hall {
                let n = batch_size.min(per_hall - after);
                let b = batch(&id, after, n, t0);
                let (inserted, hw) = store.ingest(&id, after, b.events).await.unwrap();
                assert_eq!(inserted as i64, n);
                after = hw;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per_hall * 4) as f64 / start.elapsed().as_secs_f64()
}

/// `halls` halls push `per_hall` events each in batches, over HTTP, from
/// `clients` threads at once. Returns (elapsed, events/s).
fn push_over_http(
    addr: SocketAddr,
    halls: Vec<(String, String)>,
    per_hall: i64,
    batch_size: i64,
    clients: usize,
) -> (Duration, f64) {
    let t0 = chrono::Utc::now().timestamp_millis();
    let halls = Arc::new(halls);
    let done = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let halls = halls.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(120)))
                    .build()
                    .new_agent();
                // This client's halls take turns, one batch each, like halls
                // syncing side by side.
                let mine: Vec<&(String, String)> = halls.iter().skip(c).step_by(clients).collect();
                let mut after = vec![0i64; mine.len()];
                loop {
                    let mut any = false;
                    for (i, (id, token)) in mine.iter().enumerate() {
                        if after[i] >= per_hall {
                            continue;
                        }
                        any = true;
                        let n = batch_size.min(per_hall - after[i]);
                        let b = batch(id, after[i], n, t0);
                        let ack: hallq::sync::wire::Ack = agent
                            .post(&format!("http://{addr}/api/v1/halls/{id}/events"))
                            .header("authorization", &format!("Bearer {token}"))
                            .send_json(&b)
                            .unwrap()
                            .body_mut()
                            .read_json()
                            .unwrap();
                        after[i] = ack.high_water;
                        done.fetch_add(n, Ordering::Relaxed);
                    }
                    if !any {
                        break;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed();
    let total = done.load(Ordering::Relaxed);
    assert_eq!(total, per_hall * halls.len() as i64);
    (elapsed, total as f64 / elapsed.as_secs_f64())
}

fn measure(name: &str, url: DbUrl) {
    let halls_n = env_num("HALLQ_BENCH_HALLS", 500) as usize;
    let per_hall = env_num("HALLQ_BENCH_EVENTS", 20_000) as i64;
    let batch_size = env_num("HALLQ_BENCH_BATCH", 500) as i64;
    let clients = env_num("HALLQ_BENCH_CLIENTS", 50) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(CentralStore::open(&url)).unwrap();

    let direct = rt.block_on(store_rate(&store, 200_000, 1000));
    println!("{name}: store ingest, 4 halls, batches of 1000: {direct:.0} events/s");

    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(hallq::central::serve(listener, None, store.clone(), async {
        let _ = stopped.await;
    }));

    let warm = rt.block_on(register(&store, 10, "http"));
    let (_, rate) = push_over_http(addr, warm, 20_000, 1000, 10);
    println!("{name}: HTTP ingest, 10 halls × 20000 events, batches of 1000: {rate:.0} events/s");

    let halls = rt.block_on(register(&store, halls_n, "day"));
    let (elapsed, rate) = push_over_http(addr, halls, per_hall, batch_size, clients);
    println!(
        "{name}: {halls_n} halls × {per_hall} events pushed concurrently (batches of {batch_size}, {clients} client threads): {:.1} s, {rate:.0} events/s",
        elapsed.as_secs_f64()
    );
    let _ = stop.send(());
    let _ = rt.block_on(server);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and
    // should not spend time here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    match std::env::var("HALLQ_TEST_PG") {
        Ok(server) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let conninfo = rt
                .block_on(hallq::central::testpg::fresh_database(&server))
                .unwrap_or_else(|e| panic!("HALLQ_TEST_PG: cannot make a scratch database: {e}"));
            drop(rt);
            measure("PostgreSQL", DbUrl::Postgres(conninfo));
        }
        Err(_) => println!(
            "PostgreSQL: skipped (set HALLQ_TEST_PG, e.g. \"host=/var/run/postgresql user=postgres\")"
        ),
    }
    measure("SQLite", DbUrl::Sqlite(dir.path().join("centre.db")));
}
