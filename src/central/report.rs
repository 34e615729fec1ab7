//! Reports for the centre's assessment (绩效考核): per hall, window or staff
//! member, per day or month — tickets, waiting and service times, ratings by
//! level, the unrated share, and overdue back-office items. Computed from the
//! event log the halls sent, so both stores give the same figures.
//!
//! Attribution: a ticket counts on the local day it was issued; a wait on the
//! day, window and staff of the ticket's first call; a service time, rating and
//! back-office item on the day, window and staff of the transaction. An item
//! accepted for the back office (受理, with a due date from the working-day
//! calendar) is overdue when its due date is before the report's `as_of` date:
//! the hall log records acceptance, not the back office's completion, so these
//! are the items to chase.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::store::StoredEvent;
use crate::domain::{Event, Outcome};

/// The event kinds a report reads.
pub const KINDS: &[&str] = &[
    "ticket_issued",
    "ticket_called",
    "ticket_expired",
    "transaction_recorded",
    "rated",
    "unrated",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum By {
    #[default]
    Hall,
    Window,
    Staff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[default]
    Day,
    Month,
}

/// What to report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    pub hall: String,
    #[serde(default)]
    pub by: By,
    #[serde(default)]
    pub period: Period,
    /// First local day, inclusive.
    pub from: NaiveDate,
    /// Last local day, inclusive.
    pub to: NaiveDate,
    /// Only this window.
    pub window: Option<u16>,
    /// Only this staff member (工号).
    pub staff: Option<String>,
    /// The day overdue items are counted at (default: today in the hall's zone).
    pub as_of: Option<NaiveDate>,
}

/// Count, mean and maximum of durations in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Times {
    pub count: u64,
    pub mean_s: Option<f64>,
    pub max_s: Option<i64>,
    #[serde(skip)]
    sum: i64,
}

impl Times {
    fn add(&mut self, s: i64) {
        self.count += 1;
        self.sum += s;
        self.max_s = Some(self.max_s.map_or(s, |m| m.max(s)));
        self.mean_s = Some(self.sum as f64 / self.count as f64);
    }
}

/// One row of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportRow {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// Tickets issued (hall rows only: a ticket has no window until called).
    pub tickets_issued: u64,
    /// Tickets called (first calls).
    pub tickets_called: u64,
    /// Postponed tickets that expired (过号 no-shows; hall rows only).
    pub no_shows: u64,
    /// From issue to first call.
    pub waiting: Times,
    pub transactions: u64,
    /// From call to finish of each transaction.
    pub service: Times,
    /// Ratings by level name (满意 / 一般 / 不满意 …).
    pub ratings: BTreeMap<String, u64>,
    pub rated: u64,
    pub unrated: u64,
    /// unrated / (rated + unrated); null when none closed.
    pub unrated_share: Option<f64>,
    /// Items accepted for the back office (受理).
    pub accepted: u64,
    /// Of those, due before `as_of`.
    pub overdue: u64,
}

/// A report: its rows, in period then key order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub hall: String,
    pub by: By,
    pub period: Period,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: NaiveDate,
    pub rows: Vec<ReportRow>,
}

/// `[start of from, start of the day after to)` in UTC milliseconds, widened
/// by a day on each side so tickets and transactions near midnight are seen.
pub fn fetch_range(tz: Tz, from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .map_or(0, |t| t.timestamp_millis())
    };
    let day = 86_400_000;
    (at(from) - day, at(to.succ_opt().unwrap_or(to)) + day)
}

type Key = (String, Option<u16>, Option<String>);

/// Compute a report from a hall's events (oldest first).
pub fn compute(q: &ReportQuery, tz: Tz, events: &[StoredEvent]) -> Result<Report, String> {
    if q.to < q.from {
        return Err("`to` is before `from`".into());
    }
    if (q.to - q.from).num_days() > 366 {
        return Err("at most 366 days per report".into());
    }
    let as_of = q
        .as_of
        .unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive());
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let period = |d: NaiveDate| match q.period {
        Period::Day => d.format("%Y-%m-%d").to_string(),
        Period::Month => d.format("%Y-%m").to_string(),
    };
    let in_range = |d: NaiveDate| d >= q.from && d <= q.to;
    let wanted = |window: u16, staff: &str| {
        q.window.is_none_or(|w| w == window) && q.staff.as_deref().is_none_or(|s| s == staff)
    };
    let key = |d: NaiveDate, window: Option<u16>, staff: Option<&str>| -> Key {
        match q.by {
            By::Hall => (period(d), None, None),
            By::Window => (period(d), window, None),
            By::Staff => (period(d), None, staff.map(str::to_string)),
        }
    };
    let mut rows: BTreeMap<Key, ReportRow> = BTreeMap::new();
    fn row(rows: &mut BTreeMap<Key, ReportRow>, k: Key) -> &mut ReportRow {
        rows.entry(k.clone()).or_insert_with(|| ReportRow {
            period: k.0,
            window: k.1,
            staff: k.2,
            ..ReportRow::default()
        })
    }
    // ticket id -> issued at; tickets already called once.
    let mut issued: HashMap<u64, DateTime<Utc>> = HashMap::new();
    // transaction id -> (finish day, window, staff)
    let mut txs: HashMap<u64, (NaiveDate, u16, String)> = HashMap::new();
    let hall_filter = q.window.is_none() && q.staff.is_none();

    for rec in events {
        let at = Utc.timestamp_millis_opt(rec.at_ms).single().unwrap_or_default();
        let event: Event = match serde_json::from_str(&rec.body) {
            Ok(e) => e,
            Err(e) => return Err(format!("event {} ({}) cannot be read: {e}", rec.seq, rec.kind)),
        };
        match event {
            Event::TicketIssued { ticket, .. } => {
                issued.insert(ticket.id, ticket.issued_at);
                let d = local(ticket.issued_at);
                if in_range(d) && q.by == By::Hall && hall_filter {
                    row(&mut rows, key(d, None, None)).tickets_issued += 1;
                }
            }
            Event::TicketExpired { .. } => {
                let d = local(at);
                if in_range(d) && q.by == By::Hall && hall_filter {
                    row(&mut rows, key(d, None, None)).no_shows += 1;
                }
            }
            Event::TicketCalled {
                ticket,
                window,
                staff,
                ..
            } => {
                // Only the first call is the wait; later calls (back from the
                // postponed pool, after a transfer) are not.
                let Some(t0) = issued.remove(&ticket) else {
                    continue;
                };
                let d = local(at);
                if in_range(d) && wanted(window, &staff) {
                    let r = row(&mut rows, key(d, Some(window), Some(&staff)));
                    r.tickets_called += 1;
                    r.waiting.add((at - t0).num_seconds().max(0));
                }
            }
            Event::TransactionRecorded { transaction: t, .. } => {
                let d = local(t.finished_at);
                txs.insert(t.id, (d, t.window, t.staff.clone()));
                if in_range(d) && wanted(t.window, &t.staff) {
                    let r = row(&mut rows, key(d, Some(t.window), Some(&t.staff)));
                    r.transactions += 1;
                    r.service.add((t.finished_at - t.started_at).num_seconds().max(0));
                    if let Outcome::Accepted { due } = t.outcome {
                        r.accepted += 1;
                        if due < as_of {
                            r.overdue += 1;
                        }
                    }
                }
            }
            Event::Rated {
                transaction, level, ..
            } => {
                if let Some((d, w, s)) = txs.get(&transaction).cloned() {
                    if in_range(d) && wanted(w, &s) {
                        let r = row(&mut rows, key(d, Some(w), Some(&s)));
                        r.rated += 1;
                        *r.ratings.entry(level).or_default() += 1;
                    }
                }
            }
            Event::Unrated { transaction, .. } => {
                if let Some((d, w, s)) = txs.get(&transaction).cloned() {
                    if in_range(d) && wanted(w, &s) {
                        row(&mut rows, key(d, Some(w), Some(&s))).unrated += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let rows = rows
        .into_values()
        .map(|mut r| {
            let closed = r.rated + r.unrated;
            r.unrated_share = (closed > 0).then(|| r.unrated as f64 / closed as f64);
            r
        })
        .collect();
    Ok(Report {
        hall: q.hall.clone(),
        by: q.by,
        period: q.period,
        from: q.from,
        to: q.to,
        as_of,
        rows,
    })
}
