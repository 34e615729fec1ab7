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
    "ticket_voided",
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
    /// Tickets voided because their print failed (作废; hall rows only):
    /// issued in the log, never held by a citizen.
    pub voided: u64,
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
            Event::TicketVoided { ticket, .. } => {
                issued.remove(&ticket);
                let d = local(at);
                if in_range(d) && q.by == By::Hall && hall_filter {
                    row(&mut rows, key(d, None, None)).voided += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a hall log: (UTC time, event JSON).
    fn log(events: &[(&str, String)]) -> Vec<StoredEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, (at, body))| {
                let v: serde_json::Value = serde_json::from_str(body).unwrap();
                StoredEvent {
                    seq: i as i64 + 1,
                    at_ms: DateTime::parse_from_rfc3339(at).unwrap().timestamp_millis(),
                    kind: v["type"].as_str().unwrap().to_string(),
                    body: body.clone(),
                }
            })
            .collect()
    }

    fn issued(id: u64, at: &str) -> String {
        format!(
            r#"{{"type":"ticket_issued","ahead":0,"estimated_wait_s":0,"ticket":{{"called_at":null,"class":"normal","day":"2026-12-07","id":{id},"issued_at":"{at}","label":"A{id:03}","number":{id},"origin_queue":"A","queue":"A","recalls":0,"state":{{"state":"waiting"}},"target_window":null,"transfers":0}}}}"#
        )
    }

    fn called(id: u64, window: u16, staff: &str) -> String {
        format!(
            r#"{{"type":"ticket_called","label":"A{id:03}","next":true,"staff":"{staff}","ticket":{id},"window":{window}}}"#
        )
    }

    fn recorded(tx: u64, window: u16, staff: &str, start: &str, end: &str, outcome: &str) -> String {
        format!(
            r#"{{"type":"transaction_recorded","rating_until":"{end}","transaction":{{"finished_at":"{end}","id":{tx},"items":[1],"label":"A{tx:03}","outcome":{outcome},"queue":"A","staff":"{staff}","started_at":"{start}","ticket":{tx},"window":{window}}}}}"#
        )
    }

    fn q(by: By, period: Period) -> ReportQuery {
        ReportQuery {
            hall: "h".into(),
            by,
            period,
            from: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(),
            window: None,
            staff: None,
            as_of: Some(NaiveDate::from_ymd_opt(2026, 12, 20).unwrap()),
        }
    }

    fn events() -> Vec<StoredEvent> {
        let done = r#"{"kind":"done"}"#;
        let acc = |d: &str| format!(r#"{{"due":"{d}","kind":"accepted"}}"#);
        log(&[
            // 2026-12-07 09:00 Shanghai = 01:00 UTC.
            ("2026-12-07T01:00:00Z", issued(1, "2026-12-07T01:00:00Z")),
            ("2026-12-07T01:00:30Z", issued(2, "2026-12-07T01:00:30Z")),
            ("2026-12-07T01:05:00Z", called(1, 1, "S1")),
            (
                "2026-12-07T01:10:00Z",
                recorded(1, 1, "S1", "2026-12-07T01:05:00Z", "2026-12-07T01:10:00Z", done),
            ),
            (
                "2026-12-07T01:10:05Z",
                r#"{"type":"rated","key":1,"level":"满意","transaction":1,"window":1}"#.into(),
            ),
            ("2026-12-07T01:20:30Z", called(2, 2, "S2")),
            // Called again (back from the postponed pool): not a second wait.
            ("2026-12-07T01:40:30Z", called(2, 2, "S2")),
            (
                "2026-12-07T01:45:30Z",
                recorded(
                    2,
                    2,
                    "S2",
                    "2026-12-07T01:40:30Z",
                    "2026-12-07T01:45:30Z",
                    &acc("2026-12-10"),
                ),
            ),
            (
                "2026-12-07T01:46:00Z",
                r#"{"type":"unrated","transaction":2,"window":2}"#.into(),
            ),
            // 23:30 UTC on the 7th is 07:30 on the 8th in Shanghai.
            ("2026-12-07T23:30:00Z", issued(3, "2026-12-07T23:30:00Z")),
            ("2026-12-07T23:31:00Z", called(3, 1, "S1")),
            (
                "2026-12-07T23:33:00Z",
                recorded(
                    3,
                    1,
                    "S1",
                    "2026-12-07T23:31:00Z",
                    "2026-12-07T23:33:00Z",
                    &acc("2026-12-30"),
                ),
            ),
            (
                "2026-12-07T23:33:10Z",
                r#"{"type":"rated","key":3,"level":"不满意","transaction":3,"window":1}"#.into(),
            ),
            (
                "2026-12-07T23:40:00Z",
                r#"{"type":"ticket_expired","ticket":9,"label":"A009"}"#.into(),
            ),
            (
                "2026-12-07T23:45:00Z",
                r#"{"type":"ticket_voided","ticket":10,"label":"A010","reason":"打印失败 print failed: paper out"}"#
                    .into(),
            ),
        ])
    }

    #[test]
    fn per_hall_and_day_by_local_date() {
        let r = compute(&q(By::Hall, Period::Day), chrono_tz::Asia::Shanghai, &events()).unwrap();
        assert_eq!(r.rows.len(), 2);
        let (d7, d8) = (&r.rows[0], &r.rows[1]);
        assert_eq!(
            (d7.period.as_str(), d8.period.as_str()),
            ("2026-12-07", "2026-12-08")
        );
        assert_eq!((d7.tickets_issued, d7.tickets_called, d7.transactions), (2, 2, 2));
        assert_eq!(
            (d7.voided, d8.voided),
            (0, 1),
            "a voided ticket counts on its local day"
        );
        assert_eq!(d7.waiting.count, 2);
        assert_eq!(d7.waiting.mean_s, Some((300.0 + 1200.0) / 2.0));
        assert_eq!(d7.waiting.max_s, Some(1200));
        assert_eq!(d7.service.mean_s, Some(300.0));
        assert_eq!(d7.ratings, BTreeMap::from([("满意".to_string(), 1)]));
        assert_eq!((d7.rated, d7.unrated, d7.unrated_share), (1, 1, Some(0.5)));
        assert_eq!((d7.accepted, d7.overdue), (1, 1), "due 12-10, as of 12-20");
        assert_eq!(
            (d8.tickets_issued, d8.accepted, d8.overdue, d8.no_shows),
            (1, 1, 0, 1)
        );
        assert_eq!(d8.ratings, BTreeMap::from([("不满意".to_string(), 1)]));
    }

    #[test]
    fn per_staff_per_month_and_filters() {
        let r = compute(&q(By::Staff, Period::Month), chrono_tz::Asia::Shanghai, &events()).unwrap();
        assert_eq!(r.rows.len(), 2);
        let s1 = r.rows.iter().find(|r| r.staff.as_deref() == Some("S1")).unwrap();
        assert_eq!(s1.period, "2026-12");
        assert_eq!(
            (s1.tickets_called, s1.transactions, s1.rated, s1.unrated),
            (2, 2, 2, 0)
        );
        assert_eq!(s1.tickets_issued, 0, "tickets are counted per hall only");
        let mut only = q(By::Window, Period::Day);
        only.window = Some(2);
        let r = compute(&only, chrono_tz::Asia::Shanghai, &events()).unwrap();
        assert_eq!(r.rows.len(), 1);
        assert_eq!((r.rows[0].window, r.rows[0].unrated_share), (Some(2), Some(1.0)));
        let mut bad = q(By::Hall, Period::Day);
        bad.to = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert!(compute(&bad, chrono_tz::Asia::Shanghai, &events()).is_err());
    }
}
