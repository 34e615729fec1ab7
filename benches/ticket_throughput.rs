//! Ticket throughput, latency, start-up time, memory and idle CPU of the real
//! `hallqd` binary over loopback HTTP, with a bare SQLite WAL commit
//! (`synchronous=FULL`) measured in the same run on the same disk for comparison.
//!
//! Run: `cargo bench --bench ticket_throughput` (HALLQ_BENCH_N sets the number of
//! tickets, HALLQ_BENCH_IDLE_S the idle-CPU window in seconds).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bare_sqlite(dir: &Path, n: u64) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("bare.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .unwrap();
    let start = Instant::now();
    for i in 0..n {
        conn.execute("INSERT INTO t (body) VALUES (?1)", [format!("ticket {i}")])
            .unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn config(dir: &Path, windows: u16) -> std::path::PathBuf {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/catalog.toml");
    let mut text = format!(
        r#"
[hall]
id = "bench-hall"
name = "基准大厅"
[store]
database = "hall.db"
[data]
catalog = "{}"
calendars = []
[hours]
mon = ["00:00-23:59"]
tue = ["00:00-23:59"]
wed = ["00:00-23:59"]
thu = ["00:00-23:59"]
fri = ["00:00-23:59"]
sat = ["00:00-23:59"]
sun = ["00:00-23:59"]
[[queues]]
prefix = "A"
name = "归集业务"
[[queues]]
prefix = "B"
name = "支取业务"
[[queues]]
prefix = "C"
name = "贷款业务"
"#,
        catalog.display()
    );
    for w in 1..=windows {
        text.push_str(&format!("[[windows]]\nnumber = {w}\n"));
    }
    let path = dir.join("hall.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Daemon {
    child: Child,
    base: String,
    started_in: Duration,
}

fn start(config: &Path) -> Daemon {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hallqd"))
        .args(["--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("hallqd listening on ")
        .unwrap()
        .to_string();
    let agent = agent();
    agent.get(&format!("{base}/healthz")).call().unwrap();
    Daemon {
        child,
        base,
        started_in: t0.elapsed(),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ")"
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and
    // should not spend time here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_num("HALLQ_BENCH_N", 3000);
    let idle_s = env_num("HALLQ_BENCH_IDLE_S", 10);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    let bare = bare_sqlite(dir.path(), n);
    println!("bare SQLite insert+commit (WAL, synchronous=FULL): {bare:.0} commits/s");

    let cfg = config(dir.path(), 40);
    let mut d = start(&cfg);
    println!(
        "start to first API answer (empty hall): {:.1} ms",
        d.started_in.as_secs_f64() * 1e3
    );
    let a = agent();
    let url = format!("{}/api/v1/tickets", d.base);
    let queues = ["A", "B", "C"];
    let mut lat = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        let s = Instant::now();
        let mut r = a
            .post(&url)
            .send_json(json!({"queue": queues[i as usize % 3]}))
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let _: Value = r.body_mut().read_json().unwrap();
        lat.push(s.elapsed());
    }
    let total = t0.elapsed();
    lat.sort();
    println!(
        "issue ticket via HTTP API, sequential, durable: {:.0} tickets/s; p50 {:.3} ms, p99 {:.3} ms ({} tickets)",
        n as f64 / total.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        n
    );

    // A service cycle: call, finish, rate (3 durable commands) at 40 windows.
    for w in 1..=40 {
        a.post(&format!("{}/api/v1/windows/{w}/login", d.base))
            .send_json(json!({"staff": format!("S{w:03}")}))
            .unwrap();
    }
    let cycles = (n / 3).min(900);
    let t0 = Instant::now();
    for i in 0..cycles {
        let w = 1 + (i % 40);
        let base = format!("{}/api/v1/windows/{w}", d.base);
        assert_eq!(
            a.post(&format!("{base}/call-next"))
                .send_empty()
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        assert_eq!(
            a.post(&format!("{base}/finish"))
                .send_json(json!({"items": [1], "outcome": {"kind": "done"}}))
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        assert_eq!(
            a.post(&format!("{base}/rate"))
                .send_json(json!({"key": 1}))
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    println!(
        "call-next + finish + rate cycles: {:.0} durable commands/s",
        (cycles * 3) as f64 / t0.elapsed().as_secs_f64()
    );

    // Top the hall up to 1 000 waiting tickets, then restart it and measure.
    let waiting = a
        .get(&format!("{}/api/v1/status", d.base))
        .call()
        .unwrap()
        .body_mut()
        .read_json::<Value>()
        .unwrap()["waiting_total"]
        .as_u64()
        .unwrap();
    for i in waiting..1000 {
        a.post(&url)
            .send_json(json!({"queue": queues[i as usize % 3]}))
            .unwrap();
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let mut d = start(&cfg);
    let status: Value = a
        .get(&format!("{}/api/v1/status", d.base))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    println!(
        "restart after kill -9 to first API answer (40 windows, {} waiting): {:.1} ms",
        status["waiting_total"],
        d.started_in.as_secs_f64() * 1e3
    );
    for _ in 0..50 {
        a.get(&format!("{}/api/v1/status", d.base)).call().unwrap();
    }
    println!(
        "daemon RSS with 40 windows and {} waiting tickets: {:.1} MB",
        status["waiting_total"],
        rss_kib(d.child.id()) as f64 / 1024.0
    );

    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(d.child.id());
    std::thread::sleep(Duration::from_secs(idle_s));
    let used = cpu_ticks(d.child.id()) - before;
    println!(
        "idle hall CPU over {idle_s} s: {:.2}% of one core ({used} ticks)",
        used as f64 / ticks_per_s / idle_s as f64 * 100.0
    );
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}
