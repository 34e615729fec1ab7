//! The static description of a hall: its queues, windows, rules, rating levels
//! and opening hours. Built from configuration, never changed by the engine.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use super::calendar::Calendar;
use super::catalog::{Catalog, Group};
use super::ticket::WindowNo;

/// A queue (队列) the kiosk has a button for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueDef {
    /// One capital letter printed before the number: `A` in `A012`.
    pub prefix: String,
    /// The Chinese name on the button and ticket, e.g. 归集业务.
    pub name: String,
    /// The catalogue groups this queue takes (归集 / 支取 / 贷款; all three for 综合).
    pub groups: Vec<Group>,
    /// Most tickets issued per day, if limited.
    pub daily_limit: Option<u32>,
}

/// A counter window (窗口).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowDef {
    pub number: WindowNo,
    pub name: String,
    /// Queue prefixes this window calls from (一窗受理: every queue by default).
    pub queues: Vec<String>,
    /// Prefer the queues in the order listed (a loans window that helps out
    /// with other queues when its own is empty); otherwise the oldest ticket
    /// across all of them goes first.
    pub listed_order: bool,
    /// 绿色通道 window: always calls priority tickets first (no anti-starvation switch).
    pub green_channel: bool,
    /// 帮办代办 window: assisted and proxy service.
    pub assisted: bool,
}

/// The queue rules a hall can tune.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    /// Anti-starvation: after this many priority calls in a row at a window …
    pub priority_streak_max: u32,
    /// … a normal ticket that has waited at least this long is called next.
    pub normal_wait_max: Duration,
    /// 过号: how long a skipped ticket may be called back.
    pub no_show_hold: Duration,
    /// How long a rating keypad accepts the rating of a finished transaction.
    pub rating_window: Duration,
    /// Service time assumed for wait estimates before any service was seen.
    pub default_service: Duration,
    /// How many recent services feed the wait estimate.
    pub recent_services: usize,
    /// Digits of a ticket number (`A012` has 3).
    pub number_digits: u8,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            priority_streak_max: 3,
            normal_wait_max: Duration::minutes(20),
            no_show_hold: Duration::minutes(30),
            rating_window: Duration::seconds(30),
            default_service: Duration::minutes(6),
            recent_services: 20,
            number_digits: 3,
        }
    }
}

/// One key of the rating keypad (服务评价器).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatingLevel {
    pub key: u8,
    /// 满意 / 一般 / 不满意 by default.
    pub name: String,
}

/// The default three levels of the seeds' forms.
pub fn default_rating_levels() -> Vec<RatingLevel> {
    ["满意", "一般", "不满意"]
        .iter()
        .enumerate()
        .map(|(i, n)| RatingLevel {
            key: i as u8 + 1,
            name: (*n).to_string(),
        })
        .collect()
}

/// A span of opening time on one day, local time, `open < close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub open: NaiveTime,
    pub close: NaiveTime,
}

/// Opening hours (营业时间) per weekday, combined with the working-day calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct OpeningHours {
    /// Index 0 = Monday … 6 = Sunday.
    pub week: [Vec<Span>; 7],
    /// Hours of an adjusted working weekend day (调休上班) whose weekday has none.
    pub adjusted_workday: Vec<Span>,
}

impl OpeningHours {
    /// The spans the hall is open on `date`: none on a public holiday; a
    /// weekday's own hours; for an adjusted working weekend day without
    /// hours of its own, the `adjusted_workday` hours.
    pub fn spans_on(&self, date: NaiveDate, calendar: &Calendar) -> &[Span] {
        if calendar.is_holiday(date) {
            return &[];
        }
        let own = &self.week[date.weekday().num_days_from_monday() as usize];
        if own.is_empty() && calendar.is_working_day(date) {
            return &self.adjusted_workday;
        }
        own
    }
}

/// Everything fixed about a hall.
#[derive(Debug, Clone)]
pub struct HallSetup {
    pub hall_id: String,
    pub name: String,
    pub phone: String,
    pub tz: Tz,
    pub queues: Vec<QueueDef>,
    pub windows: Vec<WindowDef>,
    pub rules: Rules,
    pub rating_levels: Vec<RatingLevel>,
    pub hours: OpeningHours,
    pub calendar: Calendar,
    pub catalog: Catalog,
    /// Notices rolled on the waiting-hall display (from the centre's bundles).
    pub notices: Vec<String>,
    /// When the centre sent a staff list: only these 工号 may log in.
    pub staff: Option<BTreeSet<String>>,
    /// Version of the centre's configuration bundle in force (0: none).
    pub bundle_version: i64,
}

/// Whether the hall is open at an instant, and if not, when it next opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenState {
    Open { closes_at: DateTime<Utc> },
    Closed { next_open: Option<DateTime<Utc>> },
}

impl HallSetup {
    pub fn queue(&self, prefix: &str) -> Option<&QueueDef> {
        self.queues.iter().find(|q| q.prefix == prefix)
    }

    pub fn window(&self, number: WindowNo) -> Option<&WindowDef> {
        self.windows.iter().find(|w| w.number == number)
    }

    /// The hall's local calendar date at an instant (never UTC by accident).
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    pub fn local_time(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.tz).naive_local()
    }

    fn to_utc(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Open or closed at `at`, with the closing time or the next opening
    /// (searching up to 60 days ahead).
    pub fn open_state(&self, at: DateTime<Utc>) -> OpenState {
        let local = self.local_time(at);
        let today = local.date();
        for span in self.hours.spans_on(today, &self.calendar) {
            if span.open <= local.time() && local.time() < span.close {
                if let Some(closes_at) = self.to_utc(today.and_time(span.close)) {
                    return OpenState::Open { closes_at };
                }
            }
        }
        for offset in 0..60 {
            let day = today + Duration::days(offset);
            for span in self.hours.spans_on(day, &self.calendar) {
                let opens = day.and_time(span.open);
                if opens > local {
                    return OpenState::Closed {
                        next_open: self.to_utc(opens),
                    };
                }
            }
        }
        OpenState::Closed { next_open: None }
    }

    /// Window numbers that call from a queue.
    pub fn windows_serving<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a WindowDef> + 'a {
        self.windows
            .iter()
            .filter(move |w| w.queues.iter().any(|q| q == prefix))
    }

    pub fn rating_level(&self, key: u8) -> Option<&RatingLevel> {
        self.rating_levels.iter().find(|l| l.key == key)
    }

    /// A map from weekday name to spans, for status pages.
    pub fn hours_by_weekday(&self) -> BTreeMap<String, Vec<String>> {
        let names = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        names
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let spans = self.hours.week[i]
                    .iter()
                    .map(|s| format!("{}-{}", s.open.format("%H:%M"), s.close.format("%H:%M")))
                    .collect();
                (d.to_string().to_lowercase(), spans)
            })
            .collect()
    }
}
