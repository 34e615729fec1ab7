//! Harness for sync tests: the real `hallq-central` binary (its CLI and its
//! server), and a hall configuration that syncs to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_hallq-central");

/// Run `hallq-central --db DB ARGS…`, expecting success; returns stdout.
pub fn cli(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running hallq-central");
    assert!(
        out.status.success(),
        "hallq-central {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Register a hall; its token is written to `token_file`.
pub fn add_hall(db: &str, id: &str, token_file: &Path) {
    cli(
        db,
        &[
            "hall",
            "add",
            id,
            "--name",
            "测试大厅",
            "--token-out",
            token_file.to_str().unwrap(),
        ],
    );
}

/// Add an administrator; returns the token.
pub fn add_admin(db: &str, dir: &Path) -> String {
    let f = dir.join("admin.token");
    cli(
        db,
        &["admin", "add", "tester", "--token-out", f.to_str().unwrap()],
    );
    std::fs::read_to_string(f).unwrap().trim().to_string()
}

/// The databases to test against: SQLite always; PostgreSQL when
/// HALLQ_TEST_PG names a server (a fresh database on it).
pub fn databases(dir: &Path) -> Vec<String> {
    let mut out = vec![format!("sqlite:{}", dir.join("centre.db").display())];
    match std::env::var("HALLQ_TEST_PG") {
        Ok(server) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let conninfo = rt
                .block_on(hallq::central::testpg::fresh_database(&server))
                .unwrap_or_else(|e| panic!("HALLQ_TEST_PG: cannot make a scratch database: {e}"));
            out.push(format!("postgres:{conninfo}"));
        }
        Err(_) => eprintln!("HALLQ_TEST_PG is not set: testing the SQLite store only"),
    }
    out
}

/// A running centre.
pub struct Centre {
    child: Child,
    pub base: String,
    pub port: u16,
    pub db: String,
    agent: ureq::Agent,
}

impl Centre {
    /// Start on `listen` (port 0 picks one), plain HTTP or TLS.
    pub fn start(db: &str, listen: &str, tls: Option<(&Path, &Path)>) -> Centre {
        let mut cmd = Command::new(BIN);
        cmd.arg("--db").arg(db).arg("serve").arg("--listen").arg(listen);
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting hallq-central");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("hallq-central listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("hallq-central did not report its address within 20 s");
            }
        };
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Centre {
            child,
            base,
            port,
            db: db.to_string(),
            agent,
        }
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {token}"))
            .call()
            .expect("GET centre");
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {token}"))
            .send_json(body)
            .expect("POST centre");
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn high_water(&self, hall: &str, admin: &str) -> i64 {
        let (s, v) = self.get(&format!("/api/v1/halls/{hall}/high-water"), admin);
        assert_eq!(s, 200, "{v}");
        v["high_water"].as_i64().unwrap()
    }

    /// Every event the centre holds for `hall`, in order.
    pub fn all_events(&self, hall: &str, admin: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let after = out.last().map_or(0, |e| e["seq"].as_i64().unwrap());
            let (s, v) = self.get(
                &format!("/api/v1/halls/{hall}/events?after={after}&limit=5000"),
                admin,
            );
            assert_eq!(s, 200, "{v}");
            let page = v["events"].as_array().unwrap().clone();
            if page.is_empty() {
                return out;
            }
            out.extend(page);
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "hallq-central did not stop within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20)); // poll interval, bounded by the deadline
        }
    }
}

impl Drop for Centre {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Append a `[sync]` table to the hall config at `config`.
pub fn add_sync(config: &Path, centre: &str, token_file: &Path, extra: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!(
        "\n[sync]\ncentre = \"{centre}\"\ntoken_file = \"{}\"\nbackoff_max_seconds = 1\nbundle_poll_seconds = 1\n{extra}\n",
        token_file.display()
    ));
    std::fs::write(config, text).unwrap();
}

/// Every event the hall holds, in order (through its API).
pub fn hall_events(d: &crate::common::Daemon) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e["seq"].as_i64().unwrap());
        let (s, v) = d.get(&format!("/api/v1/events?after={after}&limit=5000"));
        assert_eq!(s, 200, "{v}");
        let page = v["events"].as_array().unwrap().clone();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The hall's and the centre's logs hold the same events, each once, in order.
pub fn assert_same_log(hall: &[Value], centre: &[Value]) {
    let seqs: Vec<i64> = centre.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "centre events out of order or repeated"
    );
    assert_eq!(
        centre.len(),
        hall.len(),
        "the centre holds {} events, the hall {}",
        centre.len(),
        hall.len()
    );
    for (h, c) in hall.iter().zip(centre) {
        assert_eq!(h["seq"], c["seq"]);
        assert_eq!(h["event"], c["body"], "event {} differs", h["seq"]);
        let at = chrono::DateTime::parse_from_rfc3339(h["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        assert_eq!(json!(at), c["at_ms"], "event {} time differs", h["seq"]);
    }
}

/// One citizen served at `window`: a ticket in `queue`, called, finished with
/// `items` and `outcome`, rated with `key` (or left unrated when `None`).
pub fn serve_one(
    d: &crate::common::Daemon,
    window: u16,
    queue: &str,
    items: &[u32],
    outcome: Value,
    key: Option<u8>,
) {
    let (s, v) = d.post("/api/v1/tickets", json!({"queue": queue}));
    assert_eq!(s, 201, "{v}");
    let (s, v) = d.post_empty(&format!("/api/v1/windows/{window}/call-next"));
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.post(
        &format!("/api/v1/windows/{window}/finish"),
        json!({"items": items, "outcome": outcome}),
    );
    assert_eq!(s, 200, "{v}");
    if let Some(k) = key {
        let (s, v) = d.post(&format!("/api/v1/windows/{window}/rate"), json!({"key": k}));
        assert_eq!(s, 200, "{v}");
    }
}

pub fn tmp_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
