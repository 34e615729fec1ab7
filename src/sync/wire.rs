//! The wire types shared by the hall's sync task and the central server.
//!
//! The hall pushes its event log in batches to
//! `POST /api/v1/halls/{hall}/events`; the centre stores each event once by
//! (hall id, sequence) and answers with its high-water mark for the hall. On
//! every (re)connect the hall first asks `GET /api/v1/halls/{hall}/high-water`
//! and resumes after it. Event bodies travel as the JSON text the hall
//! committed, untouched, so the centre keeps exactly what the hall recorded.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Most events the centre accepts in one batch.
pub const MAX_BATCH: usize = 5000;

/// One row of a hall's event log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    /// The hall's sequence number: increasing, unique per hall.
    pub seq: i64,
    /// When the hall committed it, milliseconds since the Unix epoch (UTC).
    pub at_ms: i64,
    /// The event's type (`ticket_issued`, `rated`, …).
    pub kind: String,
    /// The event as the hall committed it (JSON object with a `type` tag).
    pub body: Box<RawValue>,
}

/// A batch of consecutive events from one hall.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub hall_id: String,
    /// The high-water mark the hall resumed from: every event of the hall with
    /// `seq > after` up to the last one in this batch is in the batch. The
    /// centre refuses a batch whose `after` is beyond what it holds (a hole).
    pub after: i64,
    pub events: Vec<WireEvent>,
}

/// The centre's answer to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub hall_id: String,
    /// Events of the batch stored now (the rest were already held).
    pub inserted: u64,
    /// The centre holds every event of the hall up to this sequence number.
    pub high_water: i64,
}

/// The centre's high-water mark for a hall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    pub hall_id: String,
    pub high_water: i64,
    /// `at_ms` of the event at the mark (none at 0): the hall checks its own
    /// event of that number has the same time, or its log is not the one the
    /// centre holds (a replaced or restored database).
    #[serde(default)]
    pub last_at_ms: Option<i64>,
}

/// An error answer: `{error, code}` (and the high-water mark for `gap`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<i64>,
}
