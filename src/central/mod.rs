//! The central server (`hallq-central`, feature `central`): halls push their
//! event logs here, fetch their configuration bundles, and the centre reads
//! reports. Storage in PostgreSQL or SQLite ([`store`]); HTTP with axum, over
//! TLS (rustls) when given a certificate. Described by
//! `api/central-openapi.json`, served at `/api/v1/openapi.json`.
//!
//! Every request carries `Authorization: Bearer TOKEN`. The centre keeps only
//! the SHA-256 of each token. A hall's token opens only that hall's paths; an
//! administrator's token reads reports and events and publishes bundles.

pub mod report;
pub mod store;
pub mod testpg;
pub mod tls;

use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::ConfigBundle;
use crate::http::{ApiError, ApiResult, Body, Q};
use crate::sync::wire::{Ack, Batch, HighWater, MAX_BATCH};
use store::{CentralError, CentralStore, Principal};

/// The OpenAPI document of the central server, kept in the repository.
pub const OPENAPI: &str = include_str!("../../api/central-openapi.json");

/// Every route: (method, path). The OpenAPI document must describe exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/halls"),
    ("get", "/api/v1/halls/{hall}/high-water"),
    ("post", "/api/v1/halls/{hall}/events"),
    ("get", "/api/v1/halls/{hall}/events"),
    ("get", "/api/v1/halls/{hall}/bundle"),
    ("post", "/api/v1/bundles"),
    ("get", "/api/v1/reports"),
];

/// A new random token (`hq_` and 64 hex digits). Shown once; only its hash is kept.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("hq_{hex}")
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A hall id as the halls' configuration allows it.
pub fn valid_hall_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn router(store: CentralStore) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/halls", get(list_halls))
        .route("/api/v1/halls/{hall}/high-water", get(high_water))
        .route(
            "/api/v1/halls/{hall}/events",
            post(ingest)
                .get(list_events)
                .layer(DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .route("/api/v1/halls/{hall}/bundle", get(bundle))
        .route("/api/v1/bundles", post(publish_bundle))
        .route("/api/v1/reports", get(reports))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such endpoint: see /api/v1/openapi.json",
            )
        })
        .with_state(store)
}

/// Serve until `shutdown` resolves, over TLS when `tls` is given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    store: CentralStore,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(store);
    match tls {
        Some(acceptor) => {
            axum::serve(tls::TlsListener::new(listener, acceptor), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
    }
}

// ----- errors ---------------------------------------------------------------

impl From<CentralError> for ApiError {
    fn from(e: CentralError) -> Self {
        match &e {
            CentralError::UnknownHall(_) => Self::new(StatusCode::NOT_FOUND, "unknown_hall", e.to_string()),
            CentralError::HallExists(_) => Self::new(StatusCode::CONFLICT, "hall_exists", e.to_string()),
            CentralError::Gap { high_water, .. } => {
                Self::new(StatusCode::CONFLICT, "gap", e.to_string()).with("high_water", json!(high_water))
            }
            CentralError::BadBatch(_) => Self::bad_request(e.to_string()),
            _ => {
                tracing::error!(error = %e, "storage failed");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string())
            }
        }
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

// ----- authentication --------------------------------------------------------

async fn principal(store: &CentralStore, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer TOKEN`",
            )
        })?;
    store.principal(&token_hash(token)).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown or revoked token",
        )
    })
}

/// The caller must be this hall (or, when `admin_ok`, an administrator).
async fn require_hall(
    store: &CentralStore,
    headers: &HeaderMap,
    hall: &str,
    admin_ok: bool,
) -> Result<(), ApiError> {
    match principal(store, headers).await? {
        Principal::Hall(h) if h == hall => Ok(()),
        Principal::Hall(h) => {
            tracing::warn!(token_hall = %h, path_hall = %hall, "a hall's token was used for another hall");
            Err(forbidden(format!("this token is for hall `{h}`, not `{hall}`")))
        }
        Principal::Admin(_) if admin_ok => Ok(()),
        Principal::Admin(_) => Err(forbidden("only the hall itself may do this")),
    }
}

async fn require_admin(store: &CentralStore, headers: &HeaderMap) -> Result<(), ApiError> {
    match principal(store, headers).await? {
        Principal::Admin(_) => Ok(()),
        Principal::Hall(_) => Err(forbidden("an administrator's token is needed")),
    }
}

// ----- handlers ---------------------------------------------------------------

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn list_halls(State(store): State<CentralStore>, headers: HeaderMap) -> ApiResult<Value> {
    require_admin(&store, &headers).await?;
    Ok(Json(json!({"halls": store.halls().await?})))
}

async fn high_water(
    State(store): State<CentralStore>,
    Path(hall): Path<String>,
    headers: HeaderMap,
) -> ApiResult<HighWater> {
    require_hall(&store, &headers, &hall, true).await?;
    let (high_water, last_at_ms) = store.high_water_mark(&hall).await?;
    Ok(Json(HighWater {
        hall_id: hall,
        high_water,
        last_at_ms,
    }))
}

async fn ingest(
    State(store): State<CentralStore>,
    Path(hall): Path<String>,
    headers: HeaderMap,
    Body(batch): Body<Batch>,
) -> ApiResult<Ack> {
    require_hall(&store, &headers, &hall, false).await?;
    if batch.hall_id != hall {
        tracing::warn!(path_hall = %hall, batch_hall = %batch.hall_id, "batch for another hall refused");
        return Err(forbidden(format!(
            "the batch is for hall `{}`, sent as hall `{hall}`",
            batch.hall_id
        )));
    }
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_BATCH} events per batch"
        )));
    }
    let n = batch.events.len();
    let (inserted, high_water) = store.ingest(&hall, batch.after, batch.events).await?;
    tracing::debug!(%hall, events = n, inserted, high_water, "batch stored");
    Ok(Json(Ack {
        hall_id: hall,
        inserted,
        high_water,
    }))
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
    1000
}

async fn list_events(
    State(store): State<CentralStore>,
    Path(hall): Path<String>,
    headers: HeaderMap,
    Q(q): Q<EventsQuery>,
) -> ApiResult<Value> {
    require_admin(&store, &headers).await?;
    if !(1..=10_000).contains(&q.limit) {
        return Err(ApiError::bad_request("limit must be 1–10000"));
    }
    store.high_water(&hall).await?;
    let events: Vec<Value> = store
        .events(&hall, q.after, q.limit)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at_ms": e.at_ms,
                "kind": e.kind,
                "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({"hall_id": hall, "events": events})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleQuery {
    #[serde(default)]
    after: i64,
}

async fn bundle(
    State(store): State<CentralStore>,
    Path(hall): Path<String>,
    headers: HeaderMap,
    Q(q): Q<BundleQuery>,
) -> Result<Response, ApiError> {
    require_hall(&store, &headers, &hall, true).await?;
    store.high_water(&hall).await?;
    Ok(match store.bundle_for(&hall, q.after).await? {
        Some(b) => Json(b).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// One hall, or every hall when left out.
    hall: Option<String>,
    catalog: Option<String>,
    calendars: Option<Vec<String>>,
    notices: Option<Vec<String>>,
    staff: Option<Vec<String>>,
}

/// Check a bundle's parts the way a hall will (catalogue and calendar syntax,
/// notices, staff numbers) so a mistake is caught at the centre first.
pub fn check_bundle(b: &ConfigBundle) -> Result<(), String> {
    use crate::domain::bundle::{valid_staff_id, MAX_NOTICES, MAX_NOTICE_CHARS};
    if b.catalog.is_none() && b.calendars.is_none() && b.notices.is_none() && b.staff.is_none() {
        return Err("the bundle is empty: give at least one of catalog, calendars, notices, staff".into());
    }
    if let Some(c) = &b.catalog {
        crate::domain::catalog::Catalog::from_toml_str(c).map_err(|e| format!("catalog: {e}"))?;
    }
    for (i, c) in b.calendars.iter().flatten().enumerate() {
        crate::domain::calendar::Calendar::from_toml_str(c).map_err(|e| format!("calendars[{i}]: {e}"))?;
    }
    if let Some(n) = &b.notices {
        if n.len() > MAX_NOTICES
            || n.iter()
                .any(|n| n.trim().is_empty() || n.chars().count() > MAX_NOTICE_CHARS)
        {
            return Err(format!(
                "notices: at most {MAX_NOTICES}, none empty or over {MAX_NOTICE_CHARS} characters"
            ));
        }
        if let Some(problem) = crate::display::font::unprintable_notices(n) {
            return Err(problem);
        }
    }
    if let Some(bad) = b.staff.iter().flatten().find(|s| !valid_staff_id(s.trim())) {
        return Err(format!("staff: `{bad}` is not a staff number"));
    }
    Ok(())
}

async fn publish_bundle(
    State(store): State<CentralStore>,
    headers: HeaderMap,
    Body(b): Body<PublishBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&store, &headers).await?;
    let bundle = ConfigBundle {
        version: 0,
        catalog: b.catalog,
        calendars: b.calendars,
        notices: b.notices,
        staff: b.staff,
    };
    check_bundle(&bundle).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_bundle", e))?;
    let version = store.publish_bundle(b.hall.as_deref(), &bundle).await?;
    tracing::info!(version, hall = ?b.hall, "bundle published");
    Ok((
        StatusCode::CREATED,
        Json(json!({"version": version, "hall": b.hall})),
    ))
}

async fn reports(
    State(store): State<CentralStore>,
    headers: HeaderMap,
    Q(q): Q<report::ReportQuery>,
) -> ApiResult<report::Report> {
    require_admin(&store, &headers).await?;
    let hall = store
        .hall(&q.hall)
        .await?
        .ok_or_else(|| ApiError::from(CentralError::UnknownHall(q.hall.clone())))?;
    let tz: chrono_tz::Tz = hall
        .tz
        .parse()
        .map_err(|_| ApiError::bad_request(format!("hall `{}` has an unknown time zone", hall.id)))?;
    let (from, to) = report::fetch_range(tz, q.from, q.to);
    let events = store.events_between(&q.hall, from, to, report::KINDS).await?;
    let r = report::compute(&q, tz, &events).map_err(ApiError::bad_request)?;
    Ok(Json(r))
}

/// Resolves the address for log lines: `https://` when TLS is on.
pub fn url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_bundle_with_notices_the_halls_cannot_show_is_refused() {
        let mut b = ConfigBundle {
            version: 2,
            catalog: None,
            calendars: None,
            notices: Some(vec!["提取住房公积金请带身份证。".into()]),
            staff: None,
        };
        assert_eq!(check_bundle(&b), Ok(()));
        b.notices = Some(vec!["𠀀 is outside GB2312".into()]);
        let e = check_bundle(&b).unwrap_err();
        assert!(e.contains("notices[0]") && e.contains('𠀀'), "{e}");
    }

    #[test]
    fn openapi_describes_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("api/central-openapi.json is JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    op["operationId"].as_str().is_some(),
                    "{method} {path}: operationId"
                );
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}"
                );
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routes: BTreeSet<_> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, routes);
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("hq_") && a.len() == 67);
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a[3..]));
        assert_eq!(h, token_hash(&a));
    }
}
