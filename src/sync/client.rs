//! The hall's HTTP client for the centre (blocking `ureq` over rustls; the sync
//! task calls it on the blocking pool). The token goes only into the
//! `Authorization` header, never into an error message or a log line.

use std::sync::Arc;
use std::time::Duration;

use ureq::http::StatusCode;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::wire::{Ack, Batch, ErrorBody, HighWater};
use super::{Secret, SyncConfig, SyncError};
use crate::domain::ConfigBundle;

/// Connection to the centre for one hall.
pub struct CentreClient {
    base: String,
    hall: String,
    auth: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for CentreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentreClient")
            .field("base", &self.base)
            .field("hall", &self.hall)
            .finish_non_exhaustive()
    }
}

/// Read the certificates of a PEM file (CAs, or a client certificate chain).
pub fn load_ca(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, SyncError> {
    let pem = std::fs::read(path).map_err(|e| SyncError::Setup(format!("{}: {e}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(SyncError::Setup(format!("{}: {e}", path.display()))),
        }
    }
    if certs.is_empty() {
        return Err(SyncError::Setup(format!(
            "{}: no certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

impl CentreClient {
    pub fn new(cfg: &SyncConfig, hall: &str) -> Result<Self, SyncError> {
        let roots = match &cfg.ca_file {
            Some(p) => RootCerts::Specific(Arc::new(load_ca(p)?)),
            None => RootCerts::WebPki,
        };
        let client_cert = match &cfg.client_cert {
            None => None,
            Some((cert, key)) => {
                let chain = load_ca(cert)?;
                let pem =
                    std::fs::read(key).map_err(|e| SyncError::Setup(format!("{}: {e}", key.display())))?;
                let key = PrivateKey::from_pem(&pem)
                    .map_err(|e| SyncError::Setup(format!("{}: {e}", key.display())))?;
                Some(ClientCert::new_with_certs(&chain, key))
            }
        };
        Ok(Self::with_tls(&cfg.centre, hall, &cfg.token, roots, client_cert))
    }

    pub fn with_tls(
        base: &str,
        hall: &str,
        token: &Secret,
        roots: RootCerts,
        client_cert: Option<ClientCert>,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(3)))
            .timeout_global(Some(Duration::from_secs(8)))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(roots)
                    .client_cert(client_cert)
                    .build(),
            )
            .build()
            .new_agent();
        CentreClient {
            base: base.trim_end_matches('/').to_string(),
            hall: hall.to_string(),
            auth: format!("Bearer {}", token.expose()),
            agent,
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/api/v1/halls/{}/{tail}", self.base, self.hall)
    }

    /// How far the centre holds this hall's events.
    pub fn high_water(&self) -> Result<HighWater, SyncError> {
        let mut resp = self
            .agent
            .get(&self.url("high-water"))
            .header("authorization", &self.auth)
            .call()
            .map_err(transport)?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(refused(status, &mut resp));
        }
        resp.body_mut().read_json().map_err(transport)
    }

    /// Push one batch; the centre answers with its new high-water mark.
    pub fn push(&self, batch: &Batch) -> Result<Ack, SyncError> {
        let mut resp = self
            .agent
            .post(&self.url("events"))
            .header("authorization", &self.auth)
            .send_json(batch)
            .map_err(transport)?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(refused(status, &mut resp));
        }
        resp.body_mut().read_json().map_err(transport)
    }

    /// The newest bundle for this hall if its version is above `after`.
    pub fn bundle(&self, after: i64) -> Result<Option<ConfigBundle>, SyncError> {
        let mut resp = self
            .agent
            .get(&format!("{}?after={after}", self.url("bundle")))
            .header("authorization", &self.auth)
            .call()
            .map_err(transport)?;
        match resp.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::OK => resp.body_mut().read_json().map(Some).map_err(transport),
            status => Err(refused(status, &mut resp)),
        }
    }
}

fn transport(e: ureq::Error) -> SyncError {
    SyncError::Transport(e.to_string())
}

fn refused(status: StatusCode, resp: &mut ureq::http::Response<ureq::Body>) -> SyncError {
    let body: Option<ErrorBody> = resp.body_mut().read_json().ok();
    match body {
        Some(b) if b.code == "gap" => SyncError::Gap {
            high_water: b.high_water.unwrap_or(0),
        },
        Some(b) => SyncError::Refused {
            status: status.as_u16(),
            message: b.error,
        },
        None => SyncError::Refused {
            status: status.as_u16(),
            message: status.canonical_reason().unwrap_or("error").to_string(),
        },
    }
}
