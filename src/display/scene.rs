//! What the hall display shows, as words: built from the engine's
//! [`HallView`], the hall's setup, the latest calls and the configured
//! notices. Layouts only place these strings; they never compute them.

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::domain::setup::{HallSetup, Span};
use crate::domain::view::HallView;
use crate::domain::WindowNo;

/// A call on the board: ticket → window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub label: String,
    pub window: WindowNo,
}

/// The latest calls (and recalls), newest first.
#[derive(Debug, Clone, Default)]
pub struct CallBoard {
    calls: VecDeque<Call>,
}

/// Calls remembered; the layouts show fewer.
const CALLS_KEPT: usize = 8;

impl CallBoard {
    /// A (re)call: the ticket goes to the top, once.
    pub fn called(&mut self, label: &str, window: WindowNo) {
        self.calls.retain(|c| c.label != label);
        self.calls.push_front(Call {
            label: label.to_string(),
            window,
        });
        self.calls.truncate(CALLS_KEPT);
    }

    /// After a restart the board is empty: show who is being served now.
    pub fn seed(&mut self, view: &HallView) {
        if !self.calls.is_empty() {
            return;
        }
        for w in view.windows.iter().rev() {
            if let Some(label) = &w.serving {
                self.called(label, w.number);
            }
        }
    }

    pub fn latest(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter()
    }
}

/// One queue's line: name, people waiting, estimated wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLine {
    pub prefix: String,
    pub name: String,
    pub waiting: usize,
    /// "约12分钟", or "无需等候" when nobody waits.
    pub wait: String,
}

/// Everything the screen says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scene {
    pub hall_name: String,
    /// "2026年12月4日 星期五" (hall time zone).
    pub date: String,
    /// "12月4日 周五" for small boards.
    pub date_short: String,
    /// "10:15".
    pub clock: String,
    pub open: bool,
    /// "08:30-12:00 13:30-17:00", or "今日休息".
    pub hours_today: String,
    /// The week's hours, one line per run of equal days: "周一至周五 08:30-12:00 13:30-17:00".
    pub hours_week: Vec<String>,
    /// Outside hours: "明天（星期六）08:30", "12月7日（星期一）08:30"; None if no opening is known.
    pub next_open: Option<String>,
    pub calls: Vec<Call>,
    pub queues: Vec<QueueLine>,
    pub waiting_total: usize,
    /// Windows serving a citizen now.
    pub serving: usize,
    /// 第十四条: a long wait is apologised for.
    pub apology: Option<String>,
    pub notices: Vec<String>,
    pub phone: String,
}

/// The closed-hall words.
pub const CLOSED_TITLE: &str = "非营业时间";
pub const NEXT_OPEN: &str = "下次开放时间";
pub const APOLOGY: &str = "对不起，让您久等了";
/// Estimated waits from this many minutes on bring the apology.
pub const APOLOGY_MINUTES: u64 = 30;

pub const WEEKDAYS: [&str; 7] = [
    "星期一",
    "星期二",
    "星期三",
    "星期四",
    "星期五",
    "星期六",
    "星期日",
];
pub const WEEKDAYS_SHORT: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

fn weekday(d: Weekday) -> &'static str {
    WEEKDAYS[d.num_days_from_monday() as usize]
}

fn spans_text(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|s| format!("{}-{}", s.open.format("%H:%M"), s.close.format("%H:%M")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// "约N分钟" (rounded up), or "无需等候".
pub fn wait_text(waiting: usize, estimated_wait_s: u64) -> String {
    if waiting == 0 && estimated_wait_s == 0 {
        "无需等候".to_string()
    } else {
        format!("约{}分钟", estimated_wait_s.div_ceil(60).max(1))
    }
}

/// The week's hours in runs of equal days.
pub fn week_lines(setup: &HallSetup) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < 7 {
        let mut end = start;
        while end + 1 < 7 && setup.hours.week[end + 1] == setup.hours.week[start] {
            end += 1;
        }
        let days = match end - start {
            0 => WEEKDAYS_SHORT[start].to_string(),
            1 => format!("{}、{}", WEEKDAYS_SHORT[start], WEEKDAYS_SHORT[end]),
            _ => format!("{}至{}", WEEKDAYS_SHORT[start], WEEKDAYS_SHORT[end]),
        };
        let spans = &setup.hours.week[start];
        let hours = if spans.is_empty() {
            "休息".to_string()
        } else {
            spans_text(spans)
        };
        out.push(format!("{days} {hours}"));
        start = end + 1;
    }
    out
}

/// "今天 13:30", "明天（星期六）08:30", "12月7日（星期一）08:30".
pub fn next_open_text(setup: &HallSetup, now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let today: NaiveDate = setup.local_date(now);
    let local = setup.local_time(at);
    let day = local.date();
    let time = local.format("%H:%M");
    if day == today {
        format!("今天 {time}")
    } else if day == today + Duration::days(1) {
        format!("明天（{}）{time}", weekday(day.weekday()))
    } else {
        format!(
            "{}月{}日（{}）{time}",
            day.month(),
            day.day(),
            weekday(day.weekday())
        )
    }
}

impl Scene {
    pub fn build(setup: &HallSetup, view: &HallView, board: &CallBoard, notices: &[String]) -> Scene {
        let local = setup.local_time(view.now);
        let date = local.date();
        let queues: Vec<QueueLine> = view
            .queues
            .iter()
            .map(|q| QueueLine {
                prefix: q.prefix.clone(),
                name: q.name.clone(),
                waiting: q.waiting,
                wait: wait_text(q.waiting, q.estimated_wait_s),
            })
            .collect();
        let long_wait = view
            .queues
            .iter()
            .any(|q| q.waiting > 0 && q.estimated_wait_s >= APOLOGY_MINUTES * 60);
        let today = setup.hours.spans_on(date, &setup.calendar);
        Scene {
            hall_name: view.name.clone(),
            date: format!(
                "{}年{}月{}日 {}",
                date.year(),
                date.month(),
                date.day(),
                weekday(date.weekday())
            ),
            date_short: format!(
                "{}月{}日 {}",
                date.month(),
                date.day(),
                WEEKDAYS_SHORT[date.weekday().num_days_from_monday() as usize]
            ),
            clock: local.format("%H:%M").to_string(),
            open: view.open,
            hours_today: if today.is_empty() {
                "今日休息".to_string()
            } else {
                spans_text(today)
            },
            hours_week: week_lines(setup),
            next_open: view.next_open.map(|t| next_open_text(setup, view.now, t)),
            calls: board.latest().cloned().collect(),
            queues,
            waiting_total: view.waiting_total,
            serving: view.windows.iter().filter(|w| w.serving.is_some()).count(),
            apology: long_wait.then(|| APOLOGY.to_string()),
            notices: notices
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            phone: setup.phone.clone(),
        }
    }

    /// Outside hours with nobody left to serve: the closed notice. (Tickets
    /// issued before closing are still called after it: 延时服务.)
    pub fn closed_screen(&self) -> bool {
        !self.open && self.waiting_total == 0 && self.serving == 0
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::testkit::setup;

    #[test]
    fn the_board_keeps_the_newest_first_and_a_recall_goes_back_on_top() {
        let mut b = CallBoard::default();
        b.called("A001", 1);
        b.called("B001", 2);
        b.called("A001", 1);
        let labels: Vec<_> = b.latest().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["A001", "B001"]);
        for i in 0..20 {
            b.called(&format!("C{i:03}"), 3);
        }
        assert_eq!(b.latest().count(), CALLS_KEPT);
        assert_eq!(b.latest().next().unwrap().label, "C019");
    }

    #[test]
    fn waits_weeks_and_openings_in_words() {
        assert_eq!(wait_text(0, 0), "无需等候");
        assert_eq!(wait_text(3, 61), "约2分钟");
        assert_eq!(wait_text(1, 0), "约1分钟");
        let s = setup();
        let lines = week_lines(&s);
        assert!(!lines.is_empty());
        assert!(lines.iter().all(|l| l.starts_with('周')), "{lines:?}");
        let now =
            s.tz.with_ymd_and_hms(2026, 12, 4, 18, 0, 0)
                .unwrap()
                .with_timezone(&Utc);
        let tz = s.tz;
        let at = |d, h, m| {
            tz.with_ymd_and_hms(2026, 12, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(next_open_text(&s, now, at(4, 19, 0)), "今天 19:00");
        assert_eq!(next_open_text(&s, now, at(5, 8, 30)), "明天（星期六）08:30");
        assert_eq!(next_open_text(&s, now, at(7, 8, 30)), "12月7日（星期一）08:30");
    }
}
