//! Sync to the centre with the real binaries: `hallqd` with a `[sync]` table
//! and `hallq-central` on loopback. The log arrives whole, credentials are
//! per hall, bundles go through the engine, the backlog shows while offline,
//! reports add up, and TLS works with a configured CA.
#![cfg(feature = "central")]

mod centre;
mod common;

use std::time::Duration;

use centre::{add_admin, add_hall, add_sync, assert_same_log, cli, hall_events, serve_one, Centre};
use common::{wait_until, write_hall_config, Daemon};
use serde_json::{json, Value};

const HALL: &str = "test-hall";

fn sync_state(d: &Daemon) -> Value {
    let (s, v) = d.get("/api/v1/sync");
    assert_eq!(s, 200, "{v}");
    v
}

/// Wait until the centre holds everything the hall has.
fn wait_synced(d: &Daemon, timeout: Duration) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(timeout, || {
        last = sync_state(d);
        last["backlog"] == 0 && last["connected"] == true
    });
    assert!(ok, "not synced within {timeout:?}: {last}");
    last
}

#[test]
fn the_log_reaches_the_centre_whole_and_reports_add_up() {
    let dir = tempfile::tempdir().unwrap();
    for db in centre::databases(dir.path()) {
        let token = dir.path().join("hall.token");
        add_hall(&db, HALL, &token);
        let admin = add_admin(&db, dir.path());
        let c = Centre::start(&db, "127.0.0.1:0", None);
        let hall_dir = tempfile::tempdir().unwrap();
        let cfg = write_hall_config(hall_dir.path(), "");
        add_sync(&cfg, &c.base, &token, "batch = 7");
        let d = Daemon::start(&cfg);
        for w in [1, 2] {
            let (s, v) = d.post(
                &format!("/api/v1/windows/{w}/login"),
                json!({"staff": format!("S00{w}")}),
            );
            assert_eq!(s, 200, "{v}");
        }
        // Window 1: three done and rated 满意, 满意, 不满意; window 2: two
        // accepted for the back office (due in 3 working days), one unrated.
        for key in [1, 1, 3] {
            serve_one(&d, 1, "A", &[1], json!({"kind": "done"}), Some(key));
        }
        serve_one(&d, 2, "B", &[18], json!({"kind": "accepted"}), Some(2));
        serve_one(&d, 2, "B", &[18], json!({"kind": "accepted"}), None);
        let s = wait_synced(&d, Duration::from_secs(20));
        assert!(s["acked_seq"].as_i64().unwrap() >= 20, "{s}");
        let (_, status) = d.get("/api/v1/status");
        assert_eq!(status["sync"]["backlog"], 0, "{status}");
        assert_eq!(status["sync"]["alert"], false, "{status}");
        assert_same_log(&hall_events(&d), &c.all_events(HALL, &admin));

        // Reports: per hall and per staff member, today, overdue counted far ahead.
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive();
        let (s, r) = c.get(
            &format!("/api/v1/reports?hall={HALL}&from={today}&to={today}&as_of=2099-01-01"),
            &admin,
        );
        assert_eq!(s, 200, "{r}");
        let row = &r["rows"][0];
        assert_eq!(row["tickets_issued"], 5, "{r}");
        assert_eq!(row["tickets_called"], 5, "{r}");
        assert_eq!(row["transactions"], 5, "{r}");
        assert_eq!(row["ratings"], json!({"满意": 2, "不满意": 1, "一般": 1}), "{r}");
        assert_eq!(row["accepted"], 2, "{r}");
        assert_eq!(row["overdue"], 2, "{r}");
        assert_eq!(row["waiting"]["count"], 5, "{r}");
        let (_, r) = c.get(
            &format!(
                "/api/v1/reports?hall={HALL}&by=staff&period=month&from={today}&to={today}&as_of={today}"
            ),
            &admin,
        );
        let rows = r["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{r}");
        let s2 = rows.iter().find(|r| r["staff"] == "S002").unwrap();
        assert_eq!(s2["period"], today.format("%Y-%m").to_string());
        assert_eq!(s2["transactions"], 2);
        assert_eq!(s2["overdue"], 0, "not due yet today");
        // The second transaction's rating window is still open (30 s): neither rated nor unrated yet.
        assert_eq!(s2["rated"], 1);
        let (s, r) = c.get(
            &format!("/api/v1/reports?hall={HALL}&by=window&window=1&from={today}&to={today}"),
            &admin,
        );
        assert_eq!(s, 200);
        assert_eq!(r["rows"][0]["window"], 1, "{r}");
        assert_eq!(r["rows"][0]["unrated_share"], 0.0, "{r}");

        // The centre restarts: the hall carries on and catches up.
        let port = c.port;
        c.terminate();
        serve_one(&d, 1, "A", &[1], json!({"kind": "done"}), Some(1));
        let offline = wait_until(Duration::from_secs(10), || {
            sync_state(&d)["backlog"].as_i64() > Some(0)
        });
        assert!(offline, "{}", sync_state(&d));
        let c = Centre::start(&db, &format!("127.0.0.1:{port}"), None);
        wait_synced(&d, Duration::from_secs(20));
        assert_same_log(&hall_events(&d), &c.all_events(HALL, &admin));
        d.terminate();
        // Clean up for the next store (same hall id on a fresh database).
        drop(c);
    }
}

#[test]
fn credentials_are_per_hall_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let (ta, tb) = (dir.path().join("a.token"), dir.path().join("b.token"));
    add_hall(&db, "hall-a", &ta);
    add_hall(&db, "hall-b", &tb);
    add_hall(&db, "hall-c", &dir.path().join("c.token"));
    let admin = add_admin(&db, dir.path());
    let listed = cli(&db, &["hall", "list"]);
    assert!(listed.contains("hall-a") && listed.contains("hall-b"), "{listed}");
    let token_a = std::fs::read_to_string(&ta).unwrap().trim().to_string();
    // Only the hash is stored.
    let raw = std::fs::read(dir.path().join("centre.db")).unwrap();
    assert!(
        !raw.windows(token_a.len()).any(|w| w == token_a.as_bytes()),
        "the token must not be stored in clear"
    );
    let c = Centre::start(&db, "127.0.0.1:0", None);
    let batch = |hall: &str| {
        json!({"hall_id": hall, "after": 0, "events": [
            {"seq": 1, "at_ms": 1, "kind": "stray_press", "body": {"type": "stray_press", "window": 1, "key": 1, "reason": "no_rating_window"}}
        ]})
    };
    assert_eq!(
        c.post("/api/v1/halls/hall-b/events", &token_a, batch("hall-b")).0,
        403
    );
    assert_eq!(
        c.post("/api/v1/halls/hall-a/events", &token_a, batch("hall-b")).0,
        403
    );
    assert_eq!(c.get("/api/v1/halls/hall-b/high-water", &token_a).0, 403);
    assert_eq!(
        c.get("/api/v1/halls", &token_a).0,
        403,
        "a hall is not an administrator"
    );
    assert_eq!(
        c.post("/api/v1/halls/hall-a/events", "hq_wrong", batch("hall-a"))
            .0,
        401
    );
    // Hall b (no daemon in this test) pushes by hand.
    let token_b = std::fs::read_to_string(&tb).unwrap().trim().to_string();
    let (s, v) = c.post("/api/v1/halls/hall-b/events", &token_b, batch("hall-b"));
    assert_eq!((s, v["high_water"].as_i64()), (200, Some(1)), "{v}");
    // A hole is refused with the mark to resume from.
    let mut hole = batch("hall-b");
    hole["after"] = json!(5);
    hole["events"][0]["seq"] = json!(6);
    let (s, v) = c.post("/api/v1/halls/hall-b/events", &token_b, hole);
    assert_eq!(
        (s, v["code"].as_str(), v["high_water"].as_i64()),
        (409, Some("gap"), Some(1))
    );
    let (_, hw) = c.get("/api/v1/halls/hall-b/high-water", &token_b);
    assert_eq!(
        (hw["high_water"].as_i64(), hw["last_at_ms"].as_i64()),
        (Some(1), Some(1)),
        "{hw}"
    );
    assert_eq!(
        c.get("/api/v1/halls/hall-a/high-water", &admin).1["high_water"],
        0
    );

    cli(&db, &["hall", "revoke", "hall-a"]);
    assert_eq!(c.get("/api/v1/halls/hall-a/high-water", &token_a).0, 401);
    // A hall with a revoked token keeps working and says why it cannot sync.
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("id = \"test-hall\"", "id = \"hall-a\""),
    )
    .unwrap();
    add_sync(&cfg, &c.base, &ta, "");
    let d = Daemon::start(&cfg);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    let mut st = Value::Null;
    assert!(wait_until(Duration::from_secs(10), || {
        st = sync_state(&d);
        st["last_error"].as_str().is_some_and(|e| e.contains("401"))
    }));
    assert_eq!(st["connected"], false, "{st}");
    assert_eq!(st["backlog"], 1, "{st}");
    assert!(!st.to_string().contains(&token_a), "the token never shows");
    // A new token: the hall picks it up at its next start and catches up.
    cli(
        &db,
        &["hall", "token", "hall-a", "--token-out", ta.to_str().unwrap()],
    );
    d.terminate();
    let d = Daemon::start(&cfg);
    wait_synced(&d, Duration::from_secs(20));
    assert_eq!(
        c.high_water("hall-a", &admin),
        sync_state(&d)["last_seq"].as_i64().unwrap()
    );
    let listed = cli(&db, &["hall", "list"]);
    let a = listed.lines().find(|l| l.starts_with("hall-a")).unwrap();
    let silent = listed.lines().find(|l| l.starts_with("hall-c")).unwrap();
    assert!(
        !a.contains("last batch never") && silent.contains("last batch never"),
        "{listed}"
    );
    assert!(a.contains("1 active token(s)"), "{listed}");
}

#[test]
fn offline_the_backlog_grows_and_alerts_then_drains() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let token = dir.path().join("hall.token");
    add_hall(&db, HALL, &token);
    // A port with nobody listening: reserve one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    add_sync(
        &cfg,
        &format!("http://127.0.0.1:{port}"),
        &token,
        "alert_after_seconds = 1",
    );
    let d = Daemon::start(&cfg);
    for _ in 0..3 {
        assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    }
    let mut st = Value::Null;
    assert!(wait_until(Duration::from_secs(10), || {
        st = sync_state(&d);
        st["alert"] == true
    }));
    assert_eq!(st["backlog"], 3, "{st}");
    assert!(st["oldest_unsent_age_s"].as_i64().unwrap() >= 1, "{st}");
    assert!(st["failures"].as_u64().unwrap() >= 1, "{st}");
    assert!(st["next_retry_at"].is_string(), "{st}");
    // The technician sees it in `hallqctl status`.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(["--api", &d.base, "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT CONNECTED") && text.contains("3 event(s) not yet sent"),
        "{text}"
    );
    assert!(text.contains("ALERT"), "{text}");
    // The retries back off instead of spinning: a handful in a second, not thousands.
    let f0 = sync_state(&d)["failures"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(1)); // measuring a rate over a fixed second
    let f1 = sync_state(&d)["failures"].as_u64().unwrap();
    assert!(f1 - f0 <= 12, "{} retries in a second", f1 - f0);
    // A power cut while offline: the backlog is still known after restart.
    d.kill9();
    let d = Daemon::start(&cfg);
    let st = sync_state(&d);
    assert_eq!(st["backlog"], 3, "{st}");
    // The centre comes up: the backlog drains, the alert clears.
    let c = Centre::start(&db, &format!("127.0.0.1:{port}"), None);
    let st = wait_synced(&d, Duration::from_secs(20));
    assert_eq!(st["alert"], false, "{st}");
    let admin = add_admin(&db, dir.path());
    assert_same_log(&hall_events(&d), &c.all_events(HALL, &admin));
}

#[test]
fn bundles_from_the_centre_go_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let token = dir.path().join("hall.token");
    add_hall(&db, HALL, &token);
    let admin = add_admin(&db, dir.path());
    let c = Centre::start(&db, "127.0.0.1:0", None);
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    add_sync(&cfg, &c.base, &token, "");
    let d = Daemon::start(&cfg);

    // A bundle the centre itself can tell is bad is refused at publish.
    let (s, v) = c.post("/api/v1/bundles", &admin, json!({"staff": ["S 1"]}));
    assert_eq!(s, 422, "{v}");
    // Notices and a staff list for this hall.
    let (s, v) = c.post(
        "/api/v1/bundles",
        &admin,
        json!({"hall": HALL, "notices": ["住房公积金贷款利率下调"], "staff": ["S001", "S002"]}),
    );
    assert_eq!(s, 201, "{v}");
    let v1 = v["version"].as_i64().unwrap();
    let mut n = Value::Null;
    assert!(wait_until(Duration::from_secs(10), || {
        n = d.get("/api/v1/notices").1;
        n["bundle_version"] == v1
    }));
    assert_eq!(n["notices"], json!(["住房公积金贷款利率下调"]));
    let (s, v) = d.post("/api/v1/windows/1/login", json!({"staff": "S999"}));
    assert_eq!((s, v["code"].as_str()), (409, Some("staff_not_listed")), "{v}");
    assert_eq!(d.post("/api/v1/windows/1/login", json!({"staff": "S001"})).0, 200);
    let events = hall_events(&d);
    assert!(events.iter().any(|e| e["event"]["type"] == "bundle_applied"));

    // A catalogue that parses but leaves queue B without items: the centre
    // cannot know the hall's queues, the hall refuses it whole.
    let only_collection =
        "[[item]]\ncode = 1\nname = \"单位缴存登记\"\ngroup = \"归集\"\nlimit = \"即时办理\"\n";
    let (s, v) = c.post(
        "/api/v1/bundles",
        &admin,
        json!({"hall": HALL, "catalog": only_collection, "notices": ["不应生效"]}),
    );
    assert_eq!(s, 201, "{v}");
    let v2 = v["version"].as_i64().unwrap();
    let mut st = Value::Null;
    assert!(wait_until(Duration::from_secs(10), || {
        st = sync_state(&d);
        st["bundle_refused"][0] == v2
    }));
    assert!(
        st["bundle_refused"][1].as_str().unwrap().contains("queue B"),
        "{st}"
    );
    let n = d.get("/api/v1/notices").1;
    assert_eq!(n["bundle_version"], v1, "the old bundle stays");
    assert_eq!(n["notices"], json!(["住房公积金贷款利率下调"]));
    assert_eq!(d.get("/api/v1/catalog").1["items"].as_array().unwrap().len(), 34);

    // A restart keeps the bundle in force.
    d.terminate();
    let d = Daemon::start(&cfg);
    assert_eq!(d.get("/api/v1/notices").1["bundle_version"], v1);
    let (s, _) = d.post("/api/v1/windows/2/login", json!({"staff": "S999"}));
    assert_eq!(s, 409);
}

#[test]
fn tls_with_a_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert_pem, key_pem) = (dir.path().join("centre.pem"), dir.path().join("centre.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.key_pair.serialize_pem()).unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let token = dir.path().join("hall.token");
    add_hall(&db, HALL, &token);
    let c = Centre::start(&db, "127.0.0.1:0", Some((&cert_pem, &key_pem)));
    assert!(c.base.starts_with("https://"), "{}", c.base);
    let url = format!("https://localhost:{}", c.port);

    // Without the CA the centre's certificate is not trusted: nothing is sent.
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    let plain = std::fs::read_to_string(&cfg).unwrap();
    add_sync(&cfg, &url, &token, "");
    let d = Daemon::start(&cfg);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    let mut st = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            st = sync_state(&d);
            st["last_error"]
                .as_str()
                .is_some_and(|e| e.to_lowercase().contains("certificate"))
        }),
        "{st}"
    );
    assert_eq!(st["backlog"], 1);
    d.terminate();

    // With it, the log goes over TLS.
    std::fs::write(&cfg, plain).unwrap();
    add_sync(
        &cfg,
        &url,
        &token,
        &format!("ca_file = \"{}\"", cert_pem.display()),
    );
    let d = Daemon::start(&cfg);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "B"})).0, 201);
    wait_synced(&d, Duration::from_secs(20));
}

#[test]
fn a_replaced_hall_database_is_not_silently_merged() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let token = dir.path().join("hall.token");
    add_hall(&db, HALL, &token);
    let admin = add_admin(&db, dir.path());
    let c = Centre::start(&db, "127.0.0.1:0", None);
    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    add_sync(&cfg, &c.base, &token, "");
    let d = Daemon::start(&cfg);
    for _ in 0..3 {
        assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    }
    wait_synced(&d, Duration::from_secs(20));
    d.terminate();
    // The hall's database is lost and the hall starts afresh: its new events
    // would carry numbers the centre already holds.
    for f in ["hall.db", "hall.db-wal", "hall.db-shm"] {
        let _ = std::fs::remove_file(hall_dir.path().join(f));
    }
    let d = Daemon::start(&cfg);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "B"})).0, 201);
    let mut st = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            st = sync_state(&d);
            st["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("old backup"))
        }),
        "{st}"
    );
    assert_eq!(st["connected"], false, "{st}");
    // More events than the centre holds: the numbers are past its mark now, but
    // the event at the mark is not the one the centre has.
    for _ in 0..4 {
        assert_eq!(d.post("/api/v1/tickets", json!({"queue": "B"})).0, 201);
    }
    let before = sync_state(&d)["requests"].as_u64().unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        st = sync_state(&d);
        st["requests"].as_u64().unwrap() >= before + 2
    }));
    assert!(
        st["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("has a different event 3")),
        "{st}"
    );
    let held = c.all_events(HALL, &admin);
    assert_eq!(held.len(), 3);
    assert!(
        held.iter().all(|e| e["body"]["ticket"]["queue"] == "A"),
        "nothing of the new log was taken"
    );
}

#[test]
fn mutual_tls_refuses_a_hall_without_a_client_certificate() {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // A CA issuing the centre's server certificate and the hall's client certificate.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |name: &str, eku: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.extended_key_usages = vec![eku];
        (params.signed_by(&key, &ca, &ca_key).unwrap(), key)
    };
    let (server, server_key) = issue("localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (client, client_key) = issue("test-hall", ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("server.pem"), server.pem()).unwrap();
    std::fs::write(p("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(p("client.pem"), client.pem()).unwrap();
    std::fs::write(p("client.key"), client_key.serialize_pem()).unwrap();

    let db = format!("sqlite:{}", p("centre.db").display());
    let token = p("hall.token");
    add_hall(&db, HALL, &token);
    let bin = centre::BIN;
    let mut child = std::process::Command::new(bin)
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(p("server.pem"))
        .arg("--tls-key")
        .arg(p("server.key"))
        .arg("--client-ca")
        .arg(p("ca.pem"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().to_string();
    let url = format!("https://localhost:{port}");

    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    let plain = std::fs::read_to_string(&cfg).unwrap();
    let ca_line = format!("ca_file = \"{}\"", p("ca.pem").display());
    add_sync(&cfg, &url, &token, &ca_line);
    let d = Daemon::start(&cfg);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    let mut st = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            st = sync_state(&d);
            st["failures"].as_u64() >= Some(1)
        }),
        "{st}"
    );
    assert_eq!(
        (st["connected"].as_bool(), st["backlog"].as_i64()),
        (Some(false), Some(1)),
        "{st}"
    );
    d.terminate();

    std::fs::write(&cfg, plain).unwrap();
    let client_lines = format!(
        "{ca_line}\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
        p("client.pem").display(),
        p("client.key").display()
    );
    add_sync(&cfg, &url, &token, &client_lines);
    let d = Daemon::start(&cfg);
    wait_synced(&d, Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_token_never_appears_in_the_logs_even_at_trace_level() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("centre.db").display());
    let token_file = dir.path().join("hall.token");
    add_hall(&db, HALL, &token_file);
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    let centre_log = std::fs::File::create(dir.path().join("centre.log")).unwrap();
    let mut centre = Command::new(centre::BIN)
        .args(["--db", &db, "serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(centre_log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(centre.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("hallq-central listening on ")
        .unwrap()
        .to_string();

    let hall_dir = tempfile::tempdir().unwrap();
    let cfg = write_hall_config(hall_dir.path(), "");
    add_sync(&cfg, &base, &token_file, "");
    let hall_log = std::fs::File::create(dir.path().join("hall.log")).unwrap();
    let mut hall = Command::new(env!("CARGO_BIN_EXE_hallqd"))
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(hall_log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hall.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let api = line
        .trim()
        .strip_prefix("hallqd listening on ")
        .unwrap()
        .to_string();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let r = agent
        .post(&format!("{api}/api/v1/tickets"))
        .send_json(json!({"queue": "A"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert!(wait_until(Duration::from_secs(20), || {
        let v: Value = agent
            .get(&format!("{api}/api/v1/sync"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        v["backlog"] == 0 && v["connected"] == true
    }));
    for child in [&mut hall, &mut centre] {
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().unwrap();
    }
    for name in ["hall.log", "centre.log"] {
        let log = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(log.lines().count() > 3, "{name} should have trace output:\n{log}");
        assert!(!log.contains(&token), "{name} contains the token");
        assert!(!log.contains(&token[3..20]), "{name} contains part of the token");
    }
}
