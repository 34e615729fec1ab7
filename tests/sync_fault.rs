//! The fault test: a real `hallqd` syncs to a real `hallq-central` through a
//! proxy on loopback that refuses, delays, resets connections, cuts them
//! mid-stream and loses the centre's acknowledgements, at random, while
//! tickets are issued, called, finished and rated; both the hall and the
//! centre are killed and restarted along the way. At the end the centre holds
//! every event of the hall exactly once, in order.
//!
//! Against SQLite always; against PostgreSQL when HALLQ_TEST_PG names a
//! server (`.ci/run` sets it), otherwise that half prints a notice and passes.
#![cfg(feature = "central")]

mod centre;
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use centre::{add_admin, add_hall, add_sync, assert_same_log, hall_events, Centre};
use common::{wait_until, write_hall_config, Daemon};
use serde_json::{json, Value};

const HALL: &str = "test-hall";

/// What the proxy did, for the test's message.
#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    acks_lost: AtomicU64,
    delayed: AtomicU64,
    cut: AtomicU64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write!(
            f,
            "{} connections: {} refused, {} reset, {} acknowledgements lost, {} delayed, {} cut mid-stream",
            g(&self.connections),
            g(&self.refused),
            g(&self.reset),
            g(&self.acks_lost),
            g(&self.delayed),
            g(&self.cut)
        )
    }
}

/// Close with an RST instead of a FIN (SO_LINGER 0).
fn reset(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = s.shutdown(Shutdown::Both);
}

/// Copy `from` → `to` until EOF; with chaos on, cut the connection (both
/// ways, with an RST to the hall) at a random chunk, and with `one_shot` close
/// it after the first chunk (an answer), so the next request needs a new
/// connection and meets a fresh roll of the dice.
#[allow(clippy::too_many_arguments)]
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    hall_side: TcpStream,
    chaos: Arc<AtomicBool>,
    cut_p: f64,
    one_shot: bool,
    stats: Arc<Stats>,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if chaos.load(Ordering::Relaxed) && rng.f64() < cut_p {
            stats.cut.fetch_add(1, Ordering::Relaxed);
            reset(&hall_side);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if one_shot && chaos.load(Ordering::Relaxed) {
            let _ = hall_side.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A TCP proxy on loopback in front of the centre.
struct Proxy {
    port: u16,
    chaos: Arc<AtomicBool>,
    stats: Arc<Stats>,
}

impl Proxy {
    fn start(target_port: u16, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let chaos = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(Stats::default());
        let (c, st) = (chaos.clone(), stats.clone());
        std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            for hall in listener.incoming().map_while(Result::ok) {
                st.connections.fetch_add(1, Ordering::Relaxed);
                let (chaos, stats) = (c.clone(), st.clone());
                let roll = if chaos.load(Ordering::Relaxed) {
                    rng.u32(0..100)
                } else {
                    99
                };
                let delay = Duration::from_millis(rng.u64(20..500));
                let seed = rng.u64(..);
                std::thread::spawn(move || handle(hall, target_port, roll, delay, chaos, stats, seed));
            }
        });
        Proxy { port, chaos, stats }
    }
}

fn handle(
    hall: TcpStream,
    target: u16,
    roll: u32,
    delay: Duration,
    chaos: Arc<AtomicBool>,
    stats: Arc<Stats>,
    seed: u64,
) {
    let _ = hall.set_read_timeout(Some(Duration::from_secs(20)));
    match roll {
        // Refused: closed at once.
        0..=9 => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(hall);
            return;
        }
        // Reset after the request started to arrive.
        10..=19 => {
            stats.reset.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 512];
            let mut h = &hall;
            let _ = h.read(&mut buf);
            reset(&hall);
            return;
        }
        20..=34 => {
            stats.delayed.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(delay); // the fault itself: a slow network
        }
        _ => {}
    }
    let Ok(centre) = TcpStream::connect(("127.0.0.1", target)) else {
        reset(&hall);
        return;
    };
    let _ = centre.set_read_timeout(Some(Duration::from_secs(20)));
    // The request goes through; the centre's answer may be lost on the way back.
    let lose_acks = (35..=54).contains(&roll);
    let up = {
        let (from, to, h, chaos, stats) = (
            hall.try_clone().unwrap(),
            centre.try_clone().unwrap(),
            hall.try_clone().unwrap(),
            chaos.clone(),
            stats.clone(),
        );
        std::thread::spawn(move || pump(from, to, h, chaos, 0.05, false, stats, seed ^ 1))
    };
    if lose_acks {
        // Wait for the centre's answer (it has committed), then drop it.
        let mut buf = [0u8; 1024];
        let mut c = &centre;
        let _ = c.read(&mut buf);
        stats.acks_lost.fetch_add(1, Ordering::Relaxed);
        reset(&hall);
        let _ = centre.shutdown(Shutdown::Both);
    } else {
        let h = hall.try_clone().unwrap();
        pump(centre, hall, h, chaos, 0.08, true, stats, seed);
    }
    let _ = up.join();
}

fn sync_state(d: &Daemon) -> Value {
    let (s, v) = d.get("/api/v1/sync");
    assert_eq!(s, 200, "{v}");
    v
}

/// One citizen: ticket, call, finish, and a rating key (sometimes none, sometimes stray).
fn citizen(d: &Daemon, i: u32) {
    let window = 1 + (i % 3) as u16;
    let queue = ["A", "B", "C"][(i % 3) as usize];
    let item = [1, 18, 30][(i % 3) as usize];
    let (s, v) = d.post("/api/v1/tickets", json!({"queue": queue}));
    assert_eq!(s, 201, "{v}");
    let (s, v) = d.post_empty(&format!("/api/v1/windows/{window}/call-next"));
    assert_eq!(s, 200, "{v}");
    let outcome = if i % 4 == 0 {
        json!({"kind": "accepted"})
    } else {
        json!({"kind": "done"})
    };
    let (s, v) = d.post(
        &format!("/api/v1/windows/{window}/finish"),
        json!({"items": [item], "outcome": outcome}),
    );
    assert_eq!(s, 200, "{v}");
    if i % 5 != 0 {
        let (s, v) = d.post(
            &format!("/api/v1/windows/{window}/rate"),
            json!({"key": 1 + i % 3}),
        );
        assert_eq!(s, 200, "{v}");
    }
    if i % 7 == 0 {
        // A second key: rated already, so a stray press (still an event).
        let (s, v) = d.post(&format!("/api/v1/windows/{window}/rate"), json!({"key": 2}));
        assert_eq!(s, 200, "{v}");
    }
}

fn login_all(d: &Daemon) {
    for w in 1..=3 {
        let (s, v) = d.post(
            &format!("/api/v1/windows/{w}/login"),
            json!({"staff": format!("S00{w}")}),
        );
        assert!(s == 200 || v["code"] == "already_logged_in", "{v}");
    }
}

fn run_faults(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("hall.token");
    add_hall(db, HALL, &token);
    let admin = add_admin(db, dir.path());
    let mut c = Centre::start(db, "127.0.0.1:0", None);
    let port = c.port;
    let seed = std::env::var("HALLQ_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fault test on {db}: seed {seed} (HALLQ_FAULT_SEED reproduces the proxy's choices)");
    let proxy = Proxy::start(port, seed);
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    add_sync(
        &cfg,
        &format!("http://127.0.0.1:{}", proxy.port),
        &token,
        "batch = 5",
    );
    let mut d = Daemon::start(&cfg);
    login_all(&d);
    let mut i = 0;
    // Serve `n` citizens; after every two, let the sync task make at least one
    // more request, so the faults meet the workload instead of the hall
    // racing ahead.
    let mut serve = |d: &Daemon, n: u32| {
        for _ in 0..n {
            citizen(d, i);
            i += 1;
            if i % 2 == 0 {
                let before = sync_state(d)["requests"].as_u64().unwrap();
                wait_until(Duration::from_secs(5), || {
                    sync_state(d)["requests"].as_u64().unwrap() > before
                });
            }
        }
    };
    serve(&d, 15);
    // The centre loses power.
    c.kill9();
    serve(&d, 10);
    c = Centre::start(db, &format!("127.0.0.1:{port}"), None);
    serve(&d, 10);
    // The hall loses power.
    d.kill9();
    d = Daemon::start(&cfg);
    serve(&d, 10);
    // The centre is restarted cleanly while the hall works.
    c.terminate();
    serve(&d, 5);
    c = Centre::start(db, &format!("127.0.0.1:{port}"), None);
    serve(&d, 10);
    // And the hall once more, cleanly.
    d.terminate();
    d = Daemon::start(&cfg);
    serve(&d, 5);

    // The network calms down: everything must arrive.
    proxy.chaos.store(false, Ordering::Relaxed);
    let mut st = Value::Null;
    let synced = wait_until(Duration::from_secs(40), || {
        st = sync_state(&d);
        st["backlog"] == 0 && st["acked_seq"] == st["last_seq"]
    });
    assert!(synced, "not synced: {st}\nproxy: {}", proxy.stats);
    let hall = hall_events(&d);
    assert!(hall.len() > 250, "a real workload: {} events", hall.len());
    assert_eq!(c.high_water(HALL, &admin), hall.len() as i64);
    assert_same_log(&hall, &c.all_events(HALL, &admin));
    let s = &proxy.stats;
    eprintln!(
        "fault test on {db}: {} events arrived exactly once; proxy: {s}",
        hall.len()
    );
    assert!(
        s.refused.load(Ordering::Relaxed) + s.reset.load(Ordering::Relaxed) > 0
            && s.acks_lost.load(Ordering::Relaxed) > 0,
        "the proxy must actually have injected faults: {s}"
    );
}

#[test]
fn every_event_arrives_exactly_once_in_order_through_faults_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run_faults(&format!("sqlite:{}", dir.path().join("centre.db").display()));
}

#[test]
fn every_event_arrives_exactly_once_in_order_through_faults_postgres() {
    let Ok(server) = std::env::var("HALLQ_TEST_PG") else {
        eprintln!("HALLQ_TEST_PG is not set: skipping the PostgreSQL fault test (.ci/run sets it)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conninfo = rt
        .block_on(hallq::central::testpg::fresh_database(&server))
        .unwrap_or_else(|e| panic!("HALLQ_TEST_PG: cannot make a scratch database: {e}"));
    run_faults(&format!("postgres:{conninfo}"));
}
