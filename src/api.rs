//! The local HTTP API (bound to 127.0.0.1 by default): the simulated kiosk and
//! keypads, counter-staff pages, technicians and tests all use it.
//! Described by `api/openapi.json`, served at `/api/v1/openapi.json`.
//! Bad requests get a 4xx with a JSON `{error, code}`; never a panic.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, TimeZone};
use rusqlite::{params, Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::devices::sim::SimDevices;
use crate::display::DisplayHandle;
use crate::domain::transaction::OutcomeInput;
use crate::domain::{Command, ErrorKind, Event, PauseKind, TicketClass, TicketRef, TransferTarget, WindowNo};
use crate::engine::{Done, EngineError, EngineHandle};
use crate::http::{ApiError, ApiResult, Body, Q};
use crate::store::{self, from_ms};

/// The OpenAPI document, kept in the repository.
pub const OPENAPI: &str = include_str!("../api/openapi.json");

/// Every route: (method, path). The OpenAPI document must describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/devices"),
    ("get", "/api/v1/display.png"),
    ("get", "/api/v1/catalog"),
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/tickets"),
    ("get", "/api/v1/transactions"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/queues/{queue}/pause"),
    ("post", "/api/v1/queues/{queue}/resume"),
    ("post", "/api/v1/windows/{window}/login"),
    ("post", "/api/v1/windows/{window}/logout"),
    ("post", "/api/v1/windows/{window}/call-next"),
    ("post", "/api/v1/windows/{window}/call"),
    ("post", "/api/v1/windows/{window}/recall"),
    ("post", "/api/v1/windows/{window}/skip"),
    ("post", "/api/v1/windows/{window}/transfer"),
    ("post", "/api/v1/windows/{window}/pause"),
    ("post", "/api/v1/windows/{window}/away"),
    ("post", "/api/v1/windows/{window}/resume"),
    ("post", "/api/v1/windows/{window}/finish"),
    ("post", "/api/v1/windows/{window}/rate"),
    ("get", "/api/v1/sync"),
    ("get", "/api/v1/notices"),
];

#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub database: PathBuf,
    pub devices: Arc<Mutex<SimDevices>>,
    /// The waiting-hall display, when configured.
    pub display: Option<DisplayHandle>,
    reader: Arc<Mutex<Option<Connection>>>,
    /// The sync task's state, when the hall syncs to a centre.
    pub sync: Option<crate::sync::SharedSync>,
}

impl AppState {
    pub fn new(engine: EngineHandle, database: PathBuf, devices: Arc<Mutex<SimDevices>>) -> Self {
        AppState {
            engine,
            database,
            devices,
            display: None,
            reader: Arc::new(Mutex::new(None)),
            sync: None,
        }
    }

    /// Report this sync task's state in `/api/v1/status` and `/api/v1/sync`.
    pub fn with_sync(mut self, sync: crate::sync::SharedSync) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Serve the hall display's snapshot at `/api/v1/display.png`.
    pub fn with_display(mut self, display: Option<DisplayHandle>) -> Self {
        self.display = display;
        self
    }

    /// Run a read-only query on the API's own connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let reader = self.reader.clone();
        let path = self.database.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = reader
                .lock()
                .map_err(|_| ApiError::unavailable("reader lock poisoned"))?;
            if guard.is_none() {
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| ApiError::unavailable(format!("cannot open the database to read: {e}")))?;
                *guard = Some(conn);
            }
            f(guard.as_ref().expect("opened above")).map_err(|e| ApiError::unavailable(e.to_string()))
        })
        .await
        .map_err(|e| ApiError::unavailable(format!("reader task failed: {e}")))?
    }
}

pub fn router(state: AppState) -> Router {
    let w = "/api/v1/windows/{window}";
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/display.png", get(display_png))
        .route("/api/v1/catalog", get(catalog))
        .route("/api/v1/tickets", post(issue_ticket).get(list_tickets))
        .route("/api/v1/transactions", get(list_transactions))
        .route("/api/v1/events", get(list_events))
        .route("/api/v1/queues/{queue}/pause", post(queue_op))
        .route("/api/v1/queues/{queue}/resume", post(queue_op))
        .route(&format!("{w}/login"), post(login))
        .route(&format!("{w}/logout"), post(simple_op))
        .route(&format!("{w}/call-next"), post(simple_op))
        .route(&format!("{w}/call"), post(call_ticket))
        .route(&format!("{w}/recall"), post(simple_op))
        .route(&format!("{w}/skip"), post(simple_op))
        .route(&format!("{w}/transfer"), post(transfer))
        .route(&format!("{w}/pause"), post(simple_op))
        .route(&format!("{w}/away"), post(simple_op))
        .route(&format!("{w}/resume"), post(simple_op))
        .route(&format!("{w}/finish"), post(finish))
        .route(&format!("{w}/rate"), post(rate))
        .route("/api/v1/sync", get(sync_status))
        .route("/api/v1/notices", get(notices))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such endpoint: see /api/v1/openapi.json",
            )
        })
        // After the routes: it is set on the method routers registered so far.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here: see /api/v1/openapi.json",
            )
        })
        .with_state(state)
}

// ----- errors ---------------------------------------------------------------

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match &e {
            EngineError::Refused(d) => {
                let status = match d.kind() {
                    ErrorKind::NotFound => StatusCode::NOT_FOUND,
                    ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                    ErrorKind::Conflict => StatusCode::CONFLICT,
                };
                Self::new(status, d.code(), d.to_string())
            }
            EngineError::Bundle(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_bundle", e.to_string())
            }
            EngineError::Storage(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()),
            EngineError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            EngineError::Stopped => Self::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string()),
        }
    }
}

/// `Path` whose rejections are our JSON errors.
#[derive(FromRequestParts, Deserialize)]
#[from_request(via(Path), rejection(ApiError))]
struct WindowPath(WindowNo);

/// A queue prefix in the path, with our JSON rejections.
#[derive(FromRequestParts, Deserialize)]
#[from_request(via(Path), rejection(ApiError))]
struct QueuePath(String);

// ----- handlers -------------------------------------------------------------

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn status(State(s): State<AppState>) -> ApiResult<Value> {
    let view = s.engine.view().await?;
    let mut v = serde_json::to_value(view).expect("view serialises");
    // The hall's status must not fail because the sync figures cannot be read.
    v["sync"] = sync_report(&s)
        .await
        .unwrap_or_else(|e| json!({"enabled": s.sync.is_some(), "error": e.message}));
    Ok(Json(v))
}

/// The sync state with the backlog counted now; `{"enabled": false}` without `[sync]`.
async fn sync_report(s: &AppState) -> Result<Value, ApiError> {
    let Some(shared) = s.sync.clone() else {
        return Ok(json!({"enabled": false}));
    };
    let state = shared
        .lock()
        .map_err(|_| ApiError::unavailable("sync state lock poisoned"))?
        .clone();
    let report = s
        .read(move |c| crate::sync::report(&state, c, chrono::Utc::now()).map_err(store::StoreError::from))
        .await?;
    let mut v = serde_json::to_value(report).expect("report serialises");
    v["enabled"] = json!(true);
    Ok(v)
}

async fn sync_status(State(s): State<AppState>) -> ApiResult<Value> {
    Ok(Json(sync_report(&s).await?))
}

/// The notices for the waiting-hall display and the centre's bundle in force.
async fn notices(State(s): State<AppState>) -> ApiResult<Value> {
    let setup = s.engine.current_setup();
    Ok(Json(json!({
        "bundle_version": setup.bundle_version,
        "notices": setup.notices,
        "staff_list": setup.staff,
    })))
}

async fn devices(State(s): State<AppState>) -> ApiResult<SimDevices> {
    let d = s
        .devices
        .lock()
        .map_err(|_| ApiError::unavailable("devices lock poisoned"))?;
    Ok(Json(d.clone()))
}

/// The hall display's frame as a PNG.
async fn display_png(State(s): State<AppState>) -> Result<Response, ApiError> {
    let Some(display) = s.display.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "display_off",
            "the hall display is off: add a [display] section to the configuration",
        ));
    };
    let png = tokio::task::spawn_blocking(move || display.snapshot_png())
        .await
        .map_err(|e| ApiError::unavailable(format!("snapshot task failed: {e}")))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

async fn catalog(State(s): State<AppState>) -> ApiResult<Value> {
    let setup = s.engine.current_setup();
    let items: Vec<_> = setup.catalog.items().collect();
    Ok(Json(json!({"items": items})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    queue: String,
    #[serde(default)]
    class: TicketClass,
}

#[derive(Serialize)]
struct IssuedTicket {
    seq: i64,
    id: u64,
    label: String,
    queue: String,
    queue_name: String,
    class: TicketClass,
    ahead: u32,
    estimated_wait_s: u64,
    estimated_wait_minutes: u64,
    issued_at: chrono::DateTime<chrono::Utc>,
}

async fn issue_ticket(
    State(s): State<AppState>,
    Body(b): Body<IssueBody>,
) -> Result<(StatusCode, Json<IssuedTicket>), ApiError> {
    let done = s
        .engine
        .execute(Command::IssueTicket {
            queue: b.queue,
            class: b.class,
        })
        .await?;
    let issued = done.events.iter().find_map(|e| match e {
        Event::TicketIssued {
            ticket,
            ahead,
            estimated_wait_s,
        } => Some(IssuedTicket {
            seq: done.seq,
            id: ticket.id,
            label: ticket.label.clone(),
            queue: ticket.queue.clone(),
            queue_name: s
                .engine
                .setup
                .queue(&ticket.queue)
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            class: ticket.class,
            ahead: *ahead,
            estimated_wait_s: *estimated_wait_s,
            estimated_wait_minutes: estimated_wait_s.div_ceil(60),
            issued_at: ticket.issued_at,
        }),
        _ => None,
    });
    issued
        .map(|t| (StatusCode::CREATED, Json(t)))
        .ok_or_else(|| ApiError::unavailable("ticket issued without an event"))
}

/// Path segment → command, for operations without a body.
async fn simple_op(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    uri: axum::http::Uri,
) -> ApiResult<Done> {
    let op = uri.path().rsplit('/').next().unwrap_or_default();
    let cmd = match op {
        "logout" => Command::Logout { window },
        "call-next" => Command::CallNext { window },
        "recall" => Command::Recall { window },
        "skip" => Command::Skip { window },
        "pause" => Command::Pause {
            window,
            kind: PauseKind::Paused,
        },
        "away" => Command::Pause {
            window,
            kind: PauseKind::Away,
        },
        "resume" => Command::Resume { window },
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                format!("unknown operation `{op}`"),
            ))
        }
    };
    Ok(Json(s.engine.execute(cmd).await?))
}

/// Pause or resume a queue at the kiosk (hall manager).
async fn queue_op(
    State(s): State<AppState>,
    QueuePath(queue): QueuePath,
    uri: axum::http::Uri,
) -> ApiResult<Done> {
    let cmd = if uri.path().ends_with("/pause") {
        Command::PauseQueue { queue }
    } else {
        Command::ResumeQueue { queue }
    };
    Ok(Json(s.engine.execute(cmd).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    staff: String,
}

async fn login(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    Body(b): Body<LoginBody>,
) -> ApiResult<Done> {
    Ok(Json(
        s.engine
            .execute(Command::Login {
                window,
                staff: b.staff,
            })
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    /// A label such as `A012`, or a ticket id.
    ticket: TicketRef,
}

async fn call_ticket(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    Body(b): Body<CallBody>,
) -> ApiResult<Done> {
    Ok(Json(
        s.engine
            .execute(Command::CallTicket {
                window,
                ticket: b.ticket,
            })
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    queue: Option<String>,
    window: Option<WindowNo>,
}

async fn transfer(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    Body(b): Body<TransferBody>,
) -> ApiResult<Done> {
    let to = match (b.queue, b.window) {
        (Some(q), None) => TransferTarget::Queue(q.trim().to_ascii_uppercase()),
        (None, Some(w)) => TransferTarget::Window(w),
        _ => return Err(ApiError::bad_request("give exactly one of `queue` or `window`")),
    };
    Ok(Json(s.engine.execute(Command::Transfer { window, to }).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishBody {
    items: Vec<u32>,
    outcome: OutcomeInput,
}

async fn finish(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    Body(b): Body<FinishBody>,
) -> ApiResult<Done> {
    Ok(Json(
        s.engine
            .execute(Command::Finish {
                window,
                items: b.items,
                outcome: b.outcome,
            })
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBody {
    key: u8,
}

#[derive(Serialize)]
struct RateReply {
    #[serde(flatten)]
    done: Done,
    /// The transaction the key rated, or null for a stray press.
    rated_transaction: Option<u64>,
}

async fn rate(
    State(s): State<AppState>,
    WindowPath(window): WindowPath,
    Body(b): Body<RateBody>,
) -> ApiResult<RateReply> {
    let done = s.engine.execute(Command::Rate { window, key: b.key }).await?;
    let rated_transaction = done.events.iter().find_map(|e| match e {
        Event::Rated { transaction, .. } => Some(*transaction),
        _ => None,
    });
    Ok(Json(RateReply {
        done,
        rated_transaction,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DayQuery {
    /// Local date, YYYY-MM-DD; today when left out.
    day: Option<NaiveDate>,
}

/// [start, end) of a local day, in UTC milliseconds.
fn day_range(s: &AppState, day: Option<NaiveDate>) -> (i64, i64) {
    let tz = s.engine.setup.tz;
    let day = day.unwrap_or_else(|| s.engine.setup.local_date(chrono::Utc::now()));
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    };
    (at(day), at(day.succ_opt().unwrap_or(day)))
}

async fn list_tickets(State(s): State<AppState>, Q(q): Q<DayQuery>) -> ApiResult<Value> {
    let (from, to) = day_range(&s, q.day);
    let rows = s
        .read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, label, queue, class, state, window, issued_at_ms, called_at_ms, ended_at_ms, recalls, transfers, ahead, est_wait_s
                 FROM tickets WHERE issued_at_ms >= ?1 AND issued_at_ms < ?2 ORDER BY id",
            )?;
            let rows = st
                .query_map(params![from, to], |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?,
                        "label": r.get::<_, String>(1)?,
                        "queue": r.get::<_, String>(2)?,
                        "class": r.get::<_, String>(3)?,
                        "state": r.get::<_, String>(4)?,
                        "window": r.get::<_, Option<i64>>(5)?,
                        "issued_at": from_ms(r.get(6)?),
                        "called_at": r.get::<_, Option<i64>>(7)?.map(from_ms),
                        "ended_at": r.get::<_, Option<i64>>(8)?.map(from_ms),
                        "recalls": r.get::<_, i64>(9)?,
                        "transfers": r.get::<_, i64>(10)?,
                        "ahead": r.get::<_, i64>(11)?,
                        "estimated_wait_s": r.get::<_, i64>(12)?,
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(json!({"tickets": rows})))
}

async fn list_transactions(State(s): State<AppState>, Q(q): Q<DayQuery>) -> ApiResult<Value> {
    let (from, to) = day_range(&s, q.day);
    let rows = s
        .read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT t.id, t.ticket_id, t.label, t.queue, t.window, t.staff, t.started_at_ms, t.finished_at_ms,
                        t.items, t.outcome_detail, r.key, r.level, r.transaction_id IS NOT NULL
                 FROM transactions t LEFT JOIN ratings r ON r.transaction_id = t.id
                 WHERE t.finished_at_ms >= ?1 AND t.finished_at_ms < ?2 ORDER BY t.id",
            )?;
            let rows = st
                .query_map(params![from, to], |r| {
                    let items: String = r.get(8)?;
                    let outcome: String = r.get(9)?;
                    let closed: bool = r.get(12)?;
                    let level: Option<String> = r.get(11)?;
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?,
                        "ticket": r.get::<_, i64>(1)?,
                        "label": r.get::<_, String>(2)?,
                        "queue": r.get::<_, String>(3)?,
                        "window": r.get::<_, i64>(4)?,
                        "staff": r.get::<_, String>(5)?,
                        "started_at": from_ms(r.get(6)?),
                        "finished_at": from_ms(r.get(7)?),
                        "items": serde_json::from_str::<Value>(&items).unwrap_or(Value::Null),
                        "outcome": serde_json::from_str::<Value>(&outcome).unwrap_or(Value::Null),
                        "rating": match (closed, level) {
                            (false, _) => json!({"state": "open"}),
                            (true, None) => json!({"state": "unrated"}),
                            (true, Some(level)) => json!({"state": "rated", "key": r.get::<_, Option<i64>>(10)?, "level": level}),
                        },
                    }))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(json!({"transactions": rows})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    500
}

async fn list_events(State(s): State<AppState>, Q(q): Q<EventsQuery>) -> ApiResult<Value> {
    if !(1..=5000).contains(&q.limit) {
        return Err(ApiError::bad_request("limit must be 1–5000"));
    }
    let events = s.read(move |c| store::read_events(c, q.after, q.limit)).await?;
    Ok(Json(json!({"events": events})))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::{OPENAPI, ROUTES};

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn doc() -> Value {
        serde_json::from_str(OPENAPI).expect("api/openapi.json is JSON")
    }

    #[test]
    fn openapi_describes_exactly_the_routes() {
        let doc = doc();
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
            "an OpenAPI 3.1 document"
        );
        let mut documented = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("`paths` is an object") {
            for (method, op) in item.as_object().expect("a path item is an object") {
                if !METHODS.contains(&method.as_str()) {
                    continue; // `parameters`, `summary`, …
                }
                assert!(
                    documented.insert((method.clone(), path.clone())),
                    "{method} {path} twice"
                );
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{method} {path}: no operationId");
                assert!(ids.insert(id.to_string()), "operationId {id} used twice");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}: no responses"
                );
            }
        }
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(routes.len(), ROUTES.len(), "ROUTES lists a route twice");
        assert_eq!(documented, routes, "api/openapi.json paths differ from ROUTES");
    }

    #[test]
    fn openapi_window_routes_declare_the_window_parameter_and_refs_resolve() {
        let doc = doc();
        let resolve = |r: &str| -> &Value {
            let p = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {r}"));
            doc.pointer(p).unwrap_or_else(|| panic!("dangling $ref {r}"))
        };
        for (method, path) in ROUTES {
            let params = doc["paths"][*path][*method]["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let window = params.iter().map(|p| match p["$ref"].as_str() {
                Some(r) => resolve(r).clone(),
                None => p.clone(),
            });
            let declared = window
                .filter(|p| p["in"] == "path" && p["name"] == "window")
                .count();
            let expected = usize::from(path.contains("{window}"));
            assert_eq!(declared, expected, "{method} {path}: `window` path parameter");
        }
        // Every `$ref` points into this document.
        fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(o) => {
                    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                        out.push(r);
                    }
                    o.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            resolve(r);
        }
    }
}
