//! The HTTP API against its OpenAPI document, on a real daemon: every answer
//! (success or error) must be one the document describes, bad requests get a
//! 4xx JSON `{error, code}` (never a 5xx), and the window operations work end
//! to end.

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use common::Daemon;
use hallq::api::ROUTES;
use serde_json::{json, Value};

const SPEC_TEXT: &str = include_str!("../api/openapi.json");

// ----- the document as a checker ---------------------------------------------

/// The OpenAPI document, used to check the daemon's answers (a small JSON
/// Schema subset: $ref, allOf, oneOf, const, enum, type, properties, required,
/// additionalProperties, items, minItems, minimum, maximum, date formats).
struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        Spec(serde_json::from_str(SPEC_TEXT).expect("api/openapi.json is JSON"))
    }

    fn pointer(&self, r: &str) -> &Value {
        let p = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        self.0.pointer(p).unwrap_or_else(|| panic!("dangling $ref {r}"))
    }

    fn deref<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = self.pointer(r);
        }
        v
    }

    /// The path template a concrete path (query dropped) falls under.
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or_default();
        let segs: Vec<&str> = path.split('/').collect();
        self.0["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .find(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segs.len()
                    && ts
                        .iter()
                        .zip(&segs)
                        .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
            })
            .cloned()
    }

    /// The schema of the answer `status` to `method template`, if documented.
    fn response_schema(&self, method: &str, template: &str, status: u16) -> Result<&Value, String> {
        let op = &self.0["paths"][template][method];
        if op.is_null() {
            return Err(format!("{method} {template} is not documented"));
        }
        let resp = op["responses"]
            .get(status.to_string())
            .or_else(|| op["responses"].get("default"))
            .ok_or_else(|| format!("{method} {template}: status {status} is not documented"))?;
        self.deref(resp)
            .pointer("/content/application~1json/schema")
            .ok_or_else(|| format!("{method} {template} {status}: no JSON schema"))
    }

    fn schema(&self, name: &str) -> &Value {
        &self.0["components"]["schemas"][name]
    }

    fn errors(&self, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            return;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            self.errors(self.pointer(r), v, at, out);
        }
        for sub in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.errors(sub, v, at, out);
        }
        let tag = s.get("discriminator").and_then(|d| {
            let field = d["propertyName"].as_str()?;
            Some((field, d["mapping"].get(v.get(field)?.as_str()?)))
        });
        if let Some((field, target)) = tag {
            // Tagged: check against the variant the tag names.
            match target.and_then(Value::as_str) {
                Some(r) => self.errors(self.pointer(r), v, at, out),
                None => out.push(format!("{at}: `{field}` {} is not in the document", v[field])),
            }
        } else if let Some(choices) = s.get("oneOf").and_then(Value::as_array) {
            let misses: Vec<Vec<String>> = choices
                .iter()
                .map(|c| {
                    let mut e = Vec::new();
                    self.errors(c, v, at, &mut e);
                    e
                })
                .collect();
            let fits = misses.iter().filter(|e| e.is_empty()).count();
            if fits != 1 {
                out.push(format!("{at}: fits {fits} of the oneOf choices ({misses:?})"));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                out.push(format!("{at}: {v} is not {c}"));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                out.push(format!("{at}: {v} is not one of {e:?}"));
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let fits = |t: &str| match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                _ => false,
            };
            if !types.iter().any(|t| fits(t)) {
                out.push(format!("{at}: {v} is not of type {t}"));
                return;
            }
        }
        if let Some(n) = v.as_f64() {
            if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
                out.push(format!("{at}: {n} is below the minimum"));
            }
            if s.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
                out.push(format!("{at}: {n} is above the maximum"));
            }
        }
        if let Some(text) = v.as_str() {
            match s.get("format").and_then(Value::as_str) {
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                    out.push(format!("{at}: {text} is not a date-time"))
                }
                Some("date") if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() => {
                    out.push(format!("{at}: {text} is not a date"))
                }
                _ => {}
            }
        }
        if let Some(o) = v.as_object() {
            for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if !o.contains_key(r) {
                    out.push(format!("{at}: `{r}` is missing"));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, val) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(p) => self.errors(p, val, &format!("{at}.{k}"), out),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => out.push(format!("{at}: `{k}` is not in the document")),
                        Some(extra) => self.errors(extra, val, &format!("{at}.{k}"), out),
                        None => {}
                    },
                }
            }
        }
        if let Some(a) = v.as_array() {
            if s.get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (a.len() as u64) < m)
            {
                out.push(format!("{at}: fewer than minItems"));
            }
            if let Some(items) = s.get("items") {
                for (i, val) in a.iter().enumerate() {
                    self.errors(items, val, &format!("{at}[{i}]"), out);
                }
            }
        }
    }

    fn check(&self, schema: &Value, v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.errors(schema, v, "$", &mut out);
        out
    }
}

// ----- a daemon whose answers are checked -----------------------------------

struct Hall {
    d: Daemon,
    spec: Spec,
    agent: ureq::Agent,
    /// (method, path template) of the routes that answered a 4xx.
    refusals: RefCell<BTreeSet<(String, String)>>,
    _dir: tempfile::TempDir,
}

impl Hall {
    fn start() -> Hall {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = common::write_hall_config(dir.path(), "");
        let d = Daemon::start(&cfg);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Hall {
            d,
            spec: Spec::load(),
            agent,
            refusals: RefCell::default(),
            _dir: dir,
        }
    }

    /// Every answer: below 500, JSON, and as the document says.
    fn checked(&self, method: &str, path: &str, (status, body): (u16, Value)) -> (u16, Value) {
        let what = format!("{} {path} → {status} {body}", method.to_uppercase());
        assert!(status < 500, "{what}: a server error");
        if status >= 400 {
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["code"].is_string(),
                "{what}: not a JSON {{error, code}}"
            );
        }
        let template = self.spec.template(path);
        let documented = template
            .as_deref()
            .is_some_and(|t| !self.spec.0["paths"][t][method].is_null());
        let errors = if documented {
            let t = template.expect("documented");
            if (400..500).contains(&status) {
                self.refusals.borrow_mut().insert((method.to_string(), t.clone()));
            }
            match self.spec.response_schema(method, &t, status) {
                Ok(schema) => self.spec.check(schema, &body),
                Err(e) => vec![e],
            }
        } else {
            // No such route or method: 404 or 405, still a JSON error.
            let mut e = self.spec.check(self.spec.schema("Error"), &body);
            if status != 404 && status != 405 {
                e.push("an undocumented route answered".into());
            }
            e
        };
        assert!(
            errors.is_empty(),
            "{what}\ndoes not fit api/openapi.json: {errors:#?}"
        );
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.checked("get", path, self.d.get(path))
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.checked("post", path, self.d.post(path, body))
    }

    fn post_empty(&self, path: &str) -> (u16, Value) {
        self.checked("post", path, self.d.post_empty(path))
    }

    fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        self.checked("post", path, self.d.post_raw(path, content_type, body))
    }

    /// A request with any method and no body.
    fn send(&self, method: &str, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.d.base);
        let resp = match method {
            "get" => self.agent.get(&url).call(),
            "post" => self.agent.post(&url).send_empty(),
            "put" => self.agent.put(&url).send_empty(),
            "delete" => self.agent.delete(&url).call(),
            other => panic!("no helper for {other}"),
        };
        let mut resp = resp.expect("request");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_json().unwrap_or(Value::Null);
        self.checked(method, path, (status, body))
    }

    /// POST (JSON body, or none), expecting success; returns the body.
    fn ok(&self, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = match body {
            Some(b) => self.post(path, b),
            None => self.post_empty(path),
        };
        assert!(status == 200 || status == 201, "POST {path} → {status} {reply}");
        reply
    }

    /// POST (JSON body, or none), expecting a refusal with this status and code.
    fn refused(&self, path: &str, body: Option<Value>, status: u16, code: &str) -> Value {
        let (got, reply) = match body {
            Some(b) => self.post(path, b),
            None => self.post_empty(path),
        };
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "POST {path}: {reply}"
        );
        reply
    }

    fn refused_raw(&self, path: &str, content_type: &str, body: &[u8], status: u16, code: &str) {
        let (got, reply) = self.post_raw(path, content_type, body);
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "POST {path} ({content_type}) {:?}: {reply}",
            String::from_utf8_lossy(body)
        );
    }

    fn issue(&self, queue: &str, class: &str) -> Value {
        let (status, t) = self.post("/api/v1/tickets", json!({"queue": queue, "class": class}));
        assert_eq!(status, 201, "{t}");
        t
    }
}

fn w(window: impl std::fmt::Display, op: &str) -> String {
    format!("/api/v1/windows/{window}/{op}")
}

/// The events of a reply, by type.
fn types(reply: &Value) -> Vec<&str> {
    reply["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("event type"))
        .collect()
}

/// The one event of `kind` in a reply.
fn event<'a>(reply: &'a Value, kind: &str) -> &'a Value {
    let found: Vec<&Value> = reply["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one `{kind}` event in {reply}");
    found[0]
}

/// Every window operation, with a body it would accept.
fn window_ops() -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("login", Some(json!({"staff": "S900"}))),
        ("logout", None),
        ("call-next", None),
        ("call", Some(json!({"ticket": "A001"}))),
        ("recall", None),
        ("skip", None),
        ("transfer", Some(json!({"queue": "B"}))),
        ("pause", None),
        ("away", None),
        ("resume", None),
        ("finish", Some(json!({"items": [1], "outcome": {"kind": "done"}}))),
        ("rate", Some(json!({"key": 1}))),
    ]
}

// ----- tests -----------------------------------------------------------------

#[test]
fn the_daemon_serves_its_openapi_document() {
    let h = Hall::start();
    let (status, doc) = h.get("/api/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc, h.spec.0, "served document differs from api/openapi.json");
    let (status, health) = h.get("/healthz");
    assert_eq!((status, health), (200, json!({"ok": true})));
    // The read-only views fit the document too (checked in `get`).
    for path in [
        "/api/v1/status",
        "/api/v1/devices",
        "/api/v1/catalog",
        "/api/v1/tickets",
        "/api/v1/transactions",
        "/api/v1/events",
    ] {
        assert_eq!(h.get(path).0, 200, "GET {path}");
    }
    let (_, catalog) = h.get("/api/v1/catalog");
    assert!(catalog["items"].as_array().is_some_and(|i| i.len() > 10));
}

#[test]
fn bad_requests_get_a_json_4xx_on_every_route() {
    let h = Hall::start();

    // Wrong method on every route, unknown paths: JSON 405 / 404.
    for (method, path) in ROUTES {
        let concrete = path.replace("{window}", "1");
        let wrong = match (*method, *path) {
            (_, "/api/v1/tickets") => "delete",
            ("get", _) => "post",
            _ => "get",
        };
        let (status, body) = h.send(wrong, &concrete);
        assert_eq!(
            (status, body["code"].as_str()),
            (405, Some("method_not_allowed")),
            "{wrong} {concrete}"
        );
    }
    for path in [
        "/",
        "/api/v2/status",
        "/api/v1/windows/1/explode",
        "/api/v1/windows/1/login/x",
    ] {
        let (status, body) = h.send("post", path);
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("no_route")),
            "POST {path}"
        );
    }
    assert_eq!(h.get("/api/v1/nothing").1["code"], "no_route");

    // Body routes: malformed JSON, missing or wrong content type, unknown fields, wrong types.
    let body_routes: Vec<(String, Value)> =
        std::iter::once(("/api/v1/tickets".to_string(), json!({"queue": "A"})))
            .chain(
                window_ops()
                    .into_iter()
                    .filter_map(|(op, body)| Some((w(1, op), body?))),
            )
            .collect();
    assert_eq!(body_routes.len(), 6);
    for (path, good) in &body_routes {
        for bad in [&b"{"[..], b"", b"[1,2", b"{\"queue\": \"A\",}", b"\xff\xfe"] {
            h.refused_raw(path, "application/json", bad, 400, "bad_request");
        }
        h.refused(path, None, 415, "unsupported_media_type");
        let text = serde_json::to_vec(good).expect("body");
        h.refused_raw(path, "text/plain", &text, 415, "unsupported_media_type");
        let mut extra = good.clone();
        extra["surprise"] = json!(1);
        let reply = h.refused(path, Some(extra), 400, "bad_request");
        assert!(
            reply["error"].as_str().unwrap_or_default().contains("surprise"),
            "{reply}"
        );
        h.refused(path, Some(json!([])), 400, "bad_request");
        h.refused(path, Some(json!(null)), 400, "bad_request");
    }
    for (path, body) in [
        ("/api/v1/tickets", json!({"queue": 5})),
        ("/api/v1/tickets", json!({"queue": "A", "class": "vip"})),
        ("/api/v1/tickets", json!({"class": "normal"})),
        ("/api/v1/windows/1/login", json!({"staff": 7})),
        ("/api/v1/windows/1/login", json!({})),
        ("/api/v1/windows/1/call", json!({"ticket": true})),
        ("/api/v1/windows/1/call", json!({"ticket": -1})),
        ("/api/v1/windows/1/call", json!({"ticket": 1.5})),
        ("/api/v1/windows/1/transfer", json!({"window": "x"})),
        ("/api/v1/windows/1/transfer", json!({"window": 70000})),
        (
            "/api/v1/windows/1/finish",
            json!({"items": "1", "outcome": {"kind": "done"}}),
        ),
        (
            "/api/v1/windows/1/finish",
            json!({"items": [-1], "outcome": {"kind": "done"}}),
        ),
        (
            "/api/v1/windows/1/finish",
            json!({"items": [1], "outcome": {"kind": "lost"}}),
        ),
        (
            "/api/v1/windows/1/finish",
            json!({"items": [1], "outcome": "done"}),
        ),
        ("/api/v1/windows/1/finish", json!({"items": [1]})),
        ("/api/v1/windows/1/rate", json!({"key": "1"})),
        ("/api/v1/windows/1/rate", json!({"key": 256})),
        ("/api/v1/windows/1/rate", json!({"key": -1})),
    ] {
        h.refused(path, Some(body), 400, "bad_request");
    }

    // Window numbers: not in the hall (404), not a window number (400).
    for (op, body) in window_ops() {
        for window in ["0", "99", "65535"] {
            h.refused(&w(window, op), body.clone(), 404, "unknown_window");
        }
        for window in ["x", "70000", "-1", "1.5", "%FF"] {
            h.refused(&w(window, op), body.clone(), 400, "bad_request");
        }
    }

    // Query strings.
    for path in [
        "/api/v1/events?limit=0",
        "/api/v1/events?limit=5001",
        "/api/v1/events?limit=x",
        "/api/v1/events?after=1.5",
        "/api/v1/events?bogus=1",
        "/api/v1/tickets?day=notadate",
        "/api/v1/tickets?day=2026-02-30",
        "/api/v1/tickets?day=%2B262143-12-31",
        "/api/v1/tickets?when=today",
        "/api/v1/transactions?day=notadate",
        "/api/v1/transactions?day=",
    ] {
        let (status, body) = h.get(path);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_request")),
            "GET {path}"
        );
    }
    assert_eq!(
        h.get("/api/v1/tickets?day=2000-01-01"),
        (200, json!({"tickets": []}))
    );

    // The hall refuses: unknown names, closed windows, wrong states.
    h.refused(
        "/api/v1/tickets",
        Some(json!({"queue": "Z"})),
        404,
        "unknown_queue",
    );
    h.refused(
        "/api/v1/tickets",
        Some(json!({"queue": ""})),
        404,
        "unknown_queue",
    );
    h.refused("/api/v1/queues/Z/pause", None, 404, "unknown_queue");
    h.refused("/api/v1/queues/Z/resume", None, 404, "unknown_queue");
    // A paused queue issues nothing until it is resumed; its state shows.
    let (status, paused) = h.post_empty("/api/v1/queues/b/pause");
    assert_eq!((status, types(&paused)), (200, vec!["queue_paused"]), "{paused}");
    h.refused(
        "/api/v1/tickets",
        Some(json!({"queue": "B"})),
        409,
        "queue_paused",
    );
    let (_, view) = h.get("/api/v1/status");
    assert_eq!(view["queues"][1]["paused"], true, "{view}");
    let (status, resumed) = h.post_empty("/api/v1/queues/B/resume");
    assert_eq!(
        (status, types(&resumed)),
        (200, vec!["queue_resumed"]),
        "{resumed}"
    );
    let (status, again) = h.post_empty("/api/v1/queues/B/resume");
    assert_eq!(
        (status, types(&again)),
        (200, vec![]),
        "resuming twice changes nothing: {again}"
    );
    h.refused(&w(1, "call-next"), None, 409, "window_closed");
    h.refused(&w(1, "logout"), None, 409, "window_closed");
    h.refused(&w(1, "pause"), None, 409, "window_closed");
    h.refused(&w(1, "resume"), None, 409, "window_closed");
    h.refused(
        &w(1, "login"),
        Some(json!({"staff": "no spaces"})),
        400,
        "invalid",
    );
    h.refused(&w(1, "login"), Some(json!({"staff": "  "})), 400, "invalid");
    h.ok(&w(2, "login"), Some(json!({"staff": "S002"})));
    h.refused(
        &w(2, "login"),
        Some(json!({"staff": "S003"})),
        409,
        "already_logged_in",
    );
    h.refused(
        &w(3, "login"),
        Some(json!({"staff": "S002"})),
        409,
        "staff_elsewhere",
    );
    h.refused(&w(2, "call-next"), None, 409, "nothing_waiting");
    h.refused(&w(2, "recall"), None, 409, "not_serving");
    h.refused(&w(2, "skip"), None, 409, "not_serving");
    h.refused(&w(2, "transfer"), Some(json!({"queue": "B"})), 409, "not_serving");
    h.refused(&w(2, "resume"), None, 409, "not_paused");
    h.refused(
        &w(2, "finish"),
        Some(json!({"items": [1], "outcome": {"kind": "done"}})),
        409,
        "not_serving",
    );
    for key in [0, 9] {
        h.refused(
            &w(2, "rate"),
            Some(json!({"key": key})),
            400,
            "unknown_rating_key",
        );
    }
    for ticket in [json!("Z999"), json!(99999)] {
        h.refused(
            &w(2, "call"),
            Some(json!({"ticket": ticket})),
            404,
            "unknown_ticket",
        );
    }
    let a1 = h.issue("A", "normal");
    h.refused(
        &w(4, "call"),
        Some(json!({"ticket": "A001"})),
        409,
        "window_closed",
    );
    h.ok(&w(4, "login"), Some(json!({"staff": "S004"})));
    h.refused(
        &w(4, "call"),
        Some(json!({"ticket": "A001"})),
        409,
        "not_served_here",
    );
    h.refused(&w(4, "call-next"), None, 409, "nothing_waiting");
    h.ok(&w(2, "pause"), None);
    h.refused(&w(2, "call-next"), None, 409, "window_paused");
    h.ok(&w(2, "resume"), None);
    let called = h.ok(&w(2, "call-next"), None);
    assert_eq!(event(&called, "ticket_called")["label"], a1["label"]);

    // Serving A001 at window 2.
    h.refused(&w(2, "logout"), None, 409, "window_busy");
    h.refused(&w(2, "call-next"), None, 409, "window_busy");
    h.refused(&w(2, "pause"), None, 409, "window_busy");
    h.ok(&w(3, "login"), Some(json!({"staff": "S003"})));
    h.refused(
        &w(3, "call"),
        Some(json!({"ticket": "A001"})),
        409,
        "not_callable",
    );
    h.refused(
        &w(3, "call"),
        Some(json!({"ticket": a1["id"]})),
        409,
        "not_callable",
    );
    for body in [json!({"queue": "B", "window": 3}), json!({})] {
        h.refused(&w(2, "transfer"), Some(body), 400, "bad_request");
    }
    h.refused(
        &w(2, "transfer"),
        Some(json!({"queue": "Z"})),
        404,
        "unknown_queue",
    );
    h.refused(
        &w(2, "transfer"),
        Some(json!({"window": 99})),
        404,
        "unknown_window",
    );
    h.refused(&w(2, "transfer"), Some(json!({"window": 2})), 400, "invalid");
    let finish = |items: Value, outcome: Value| Some(json!({"items": items, "outcome": outcome}));
    h.refused(
        &w(2, "finish"),
        finish(json!([9999]), json!({"kind": "done"})),
        400,
        "unknown_item",
    );
    h.refused(
        &w(2, "finish"),
        finish(json!([1, 9999]), json!({"kind": "accepted"})),
        400,
        "unknown_item",
    );
    h.refused(
        &w(2, "finish"),
        finish(json!([]), json!({"kind": "done"})),
        400,
        "invalid",
    );
    h.refused(
        &w(2, "finish"),
        finish(json!([1]), json!({"kind": "refused"})),
        400,
        "bad_request",
    );
    let no_approval = json!({"kind": "refused", "approval_id": " ", "reason": "不符合条件"});
    h.refused(&w(2, "finish"), finish(json!([1]), no_approval), 400, "invalid");
    h.refused(
        &w(2, "finish"),
        finish(json!([1]), json!({"kind": "incomplete"})),
        400,
        "bad_request",
    );
    for missing in [json!([]), json!(["", "  "])] {
        let outcome = json!({"kind": "incomplete", "missing": missing});
        h.refused(&w(2, "finish"), finish(json!([1]), outcome), 400, "invalid");
    }
    h.refused(
        &w(2, "finish"),
        finish(json!([1]), json!({"kind": "referred", "to": ""})),
        400,
        "invalid",
    );
    // Nothing of that changed the ticket: it is still being served at window 2.
    let (_, status) = h.get("/api/v1/status");
    assert_eq!(status["windows"][1]["serving"], "A001", "{status}");

    // Every route answered some bad input with a 4xx.
    let refusals = h.refusals.borrow();
    let no_input = [
        "/healthz",
        "/api/v1/openapi.json",
        "/api/v1/status",
        "/api/v1/devices",
        "/api/v1/display.png",
        "/api/v1/catalog",
        "/api/v1/sync",
        "/api/v1/notices",
    ];
    for (method, path) in ROUTES {
        if no_input.contains(path) {
            continue; // only a wrong method (405, above) is bad for these
        }
        assert!(
            refusals.contains(&(method.to_string(), path.to_string())),
            "{method} {path} was never refused"
        );
    }
}

#[test]
fn window_operations_work_end_to_end() {
    let h = Hall::start();
    let login = h.ok(&w(2, "login"), Some(json!({"staff": "S002"})));
    assert_eq!(types(&login), ["staff_logged_in"]);
    assert_eq!(login["window"]["status"], "idle");
    assert_eq!(login["window"]["status_text"], "空闲");
    assert_eq!(login["window"]["staff"], "S002");
    h.ok(&w(3, "login"), Some(json!({"staff": "S003"})));

    let a1 = h.issue("A", "normal");
    assert_eq!(
        (a1["label"].as_str(), a1["ahead"].as_u64()),
        (Some("A001"), Some(0))
    );
    assert_eq!(a1["queue_name"], "归集业务");
    let a2 = h.issue("a", "normal");
    assert_eq!(
        (a2["label"].as_str(), a2["ahead"].as_u64()),
        (Some("A002"), Some(1))
    );

    // 叫号, 重呼, 过号, and the skipped ticket called back by label.
    let called = h.ok(&w(2, "call-next"), None);
    let e = event(&called, "ticket_called");
    assert_eq!(
        (e["label"].as_str(), e["next"].as_bool()),
        (Some("A001"), Some(true))
    );
    assert_eq!(called["window"]["serving"], "A001");
    assert_eq!(called["window"]["status_text"], "办理中");
    let recalled = h.ok(&w(2, "recall"), None);
    assert_eq!(event(&recalled, "ticket_recalled")["count"], 1);
    let skipped = h.ok(&w(2, "skip"), None);
    assert_eq!(event(&skipped, "ticket_skipped")["label"], "A001");
    assert_eq!(skipped["window"]["serving"], Value::Null);
    let (_, status) = h.get("/api/v1/status");
    assert_eq!(status["postponed"][0]["label"], "A001", "{status}");
    let back = h.ok(&w(2, "call"), Some(json!({"ticket": "a001"})));
    let e = event(&back, "ticket_called");
    assert_eq!(
        (e["label"].as_str(), e["next"].as_bool()),
        (Some("A001"), Some(false))
    );

    // 转移 to queue B, then to window 3: it keeps its place before A002.
    let moved = h.ok(&w(2, "transfer"), Some(json!({"queue": " b "})));
    assert_eq!(event(&moved, "ticket_transferred")["to"], json!({"queue": "B"}));
    assert_eq!(moved["window"]["status"], "idle");
    let again = h.ok(&w(2, "call-next"), None);
    assert_eq!(event(&again, "ticket_called")["label"], "A001");
    let moved = h.ok(&w(2, "transfer"), Some(json!({"window": 3})));
    assert_eq!(event(&moved, "ticket_transferred")["to"], json!({"window": 3}));
    let at3 = h.ok(&w(3, "call-next"), None);
    assert_eq!(event(&at3, "ticket_called")["label"], "A001");

    // 暂停服务, 请您稍等, resume.
    let paused = h.ok(&w(2, "pause"), None);
    assert_eq!(event(&paused, "window_paused")["kind"], "paused");
    assert_eq!(paused["window"]["status_text"], "暂停服务");
    let (_, status) = h.get("/api/v1/status");
    assert_eq!(status["paused_while_waiting"], json!([2]), "{status}");
    assert_eq!(types(&h.ok(&w(2, "resume"), None)), ["window_resumed"]);
    let a2_called = h.ok(&w(2, "call-next"), None);
    assert_eq!(event(&a2_called, "ticket_called")["label"], "A002");
    let away = h.ok(&w(2, "away"), None);
    assert_eq!(event(&away, "window_paused")["kind"], "away");
    assert_eq!(
        (
            away["window"]["status_text"].as_str(),
            away["window"]["serving"].as_str()
        ),
        (Some("请您稍等"), Some("A002"))
    );
    h.ok(&w(2, "resume"), None);

    // 办结 (done), then 服务评价 and a stray second press.
    let done = h.ok(
        &w(2, "finish"),
        Some(json!({"items": [1], "outcome": {"kind": "done"}})),
    );
    let tx = &event(&done, "transaction_recorded")["transaction"];
    assert_eq!(tx["outcome"], json!({"kind": "done"}));
    assert_eq!(
        (tx["label"].as_str(), tx["staff"].as_str()),
        (Some("A002"), Some("S002"))
    );
    let done_id = tx["id"].as_u64().expect("transaction id");
    assert_eq!(done["window"]["rating_open_for"], done_id);
    let rated = h.ok(&w(2, "rate"), Some(json!({"key": 1})));
    assert_eq!(rated["rated_transaction"], done_id);
    assert_eq!(event(&rated, "rated")["level"], "满意");
    assert_eq!(rated["window"]["rating_open_for"], Value::Null);
    let stray = h.ok(&w(2, "rate"), Some(json!({"key": 2})));
    assert_eq!(stray["rated_transaction"], Value::Null);
    assert_eq!(event(&stray, "stray_press")["reason"], "no_rating_window");

    // The other outcomes: accepted (at window 3), incomplete, referred, refused.
    let accepted = h.ok(
        &w(3, "finish"),
        Some(json!({"items": [2, 1, 2], "outcome": {"kind": "accepted"}})),
    );
    let tx = &event(&accepted, "transaction_recorded")["transaction"];
    assert_eq!(
        (tx["label"].as_str(), tx["items"].clone()),
        (Some("A001"), json!([1, 2]))
    );
    assert_eq!(tx["outcome"]["kind"], "accepted");
    assert!(tx["outcome"]["due"].is_string(), "{tx}");
    let outcomes = [
        json!({"kind": "incomplete", "missing": ["身份证原件", " "]}),
        json!({"kind": "referred", "to": "社保中心"}),
        json!({"kind": "refused", "approval_id": "AP-2026-001", "reason": "不符合提取条件"}),
    ];
    for (i, outcome) in outcomes.iter().enumerate() {
        let t = h.issue("C", "normal");
        let called = h.ok(&w(2, "call-next"), None);
        assert_eq!(event(&called, "ticket_called")["label"], t["label"]);
        let finished = h.ok(&w(2, "finish"), Some(json!({"items": [20], "outcome": outcome})));
        let tx = &event(&finished, "transaction_recorded")["transaction"];
        assert_eq!(tx["outcome"]["kind"], outcome["kind"]);
        if i > 0 {
            // A new transaction takes the keypad over: the last one went unrated.
            assert_eq!(types(&finished), ["unrated", "transaction_recorded"]);
        }
    }
    let (_, txs) = h.get("/api/v1/transactions");
    let txs = txs["transactions"].as_array().expect("transactions").clone();
    assert_eq!(txs.len(), 5);
    let by_kind = |kind: &str| {
        txs.iter()
            .find(|t| t["outcome"]["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} transaction in {txs:?}"))
    };
    assert_eq!(by_kind("done")["id"], done_id);
    assert_eq!(
        by_kind("done")["rating"],
        json!({"state": "rated", "key": 1, "level": "满意"})
    );
    assert_eq!(by_kind("accepted")["rating"]["state"], "open");
    assert_eq!(by_kind("incomplete")["outcome"]["missing"], json!(["身份证原件"]));
    assert_eq!(by_kind("incomplete")["rating"]["state"], "unrated");
    assert_eq!(by_kind("referred")["rating"]["state"], "unrated");
    assert_eq!(by_kind("refused")["outcome"]["approval_id"], "AP-2026-001");
    assert_eq!(by_kind("refused")["rating"]["state"], "open");

    // Reports and devices agree.
    let (_, tickets) = h.get("/api/v1/tickets");
    let tickets = tickets["tickets"].as_array().expect("tickets").clone();
    assert_eq!(tickets.len(), 5);
    assert!(tickets.iter().all(|t| t["state"] == "done"), "{tickets:?}");
    assert_eq!(tickets[0]["recalls"], 1);
    assert_eq!(tickets[0]["transfers"], 2);
    let (_, events) = h.get("/api/v1/events");
    let events = events["events"].as_array().expect("events").clone();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|p| p[0] < p[1]), "{seqs:?}");
    let kinds: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e["event"]["type"].as_str())
        .collect();
    for kind in [
        "ticket_issued",
        "ticket_called",
        "ticket_recalled",
        "ticket_skipped",
        "ticket_transferred",
        "staff_logged_in",
        "window_paused",
        "window_resumed",
        "transaction_recorded",
        "rated",
        "unrated",
        "stray_press",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the event log");
    }
    let (_, page) = h.get(&format!("/api/v1/events?after={}&limit=2", seqs[3]));
    let page: Vec<i64> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(page, seqs[4..6]);
    assert!(common::wait_until(Duration::from_secs(2), || {
        let (_, dev) = h.get("/api/v1/devices");
        dev["announced"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == "请A001号到3号窗口办理"))
            && dev["counters"]["2"]["status"] == "空闲"
    }));

    let out = h.ok(&w(2, "logout"), None);
    assert_eq!(event(&out, "staff_logged_out")["staff"], "S002");
    assert_eq!(out["window"]["status_text"], "未开放");
}

#[test]
fn priority_tickets_are_called_before_normal_ones() {
    let h = Hall::start();
    let n1 = h.issue("A", "normal");
    let n2 = h.issue("A", "normal");
    let p = h.issue("A", "priority");
    assert_eq!(
        (p["class"].as_str(), p["ahead"].as_u64()),
        (Some("priority"), Some(0))
    );
    let b = h.issue("B", "appointment");
    assert_eq!(
        b["ahead"], 1,
        "only the priority ticket is ahead of an appointment: {b}"
    );
    let n3 = h.issue("B", "normal");
    assert_eq!(n3["ahead"], 4);
    h.ok(&w(2, "login"), Some(json!({"staff": "S002"})));
    let mut order = Vec::new();
    for _ in 0..5 {
        let called = h.ok(&w(2, "call-next"), None);
        order.push(event(&called, "ticket_called")["label"].clone());
        h.ok(&w(2, "skip"), None);
    }
    let expected: Vec<Value> = [&p, &b, &n1, &n2, &n3]
        .iter()
        .map(|t| t["label"].clone())
        .collect();
    assert_eq!(order, expected);
    h.refused(&w(2, "call-next"), None, 409, "nothing_waiting");
}
