//! What the hall looks like right now: for status pages, the CLI and the
//! displays. Plain data, built from the state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::hall::{Hall, WindowStatus};
use super::setup::OpenState;
use super::ticket::{TicketClass, TicketState, WindowNo};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueView {
    pub prefix: String,
    pub name: String,
    pub waiting: usize,
    /// How long a ticket issued now would wait (第四十一条).
    pub estimated_wait_s: u64,
    pub issued_today: u32,
    /// Paused by the hall manager: the kiosk issues none of its tickets.
    pub paused: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowView {
    pub number: WindowNo,
    pub name: String,
    pub status: WindowStatus,
    /// The words on the counter display: 办理中, 暂停服务, 请您稍等, 空闲, 未开放.
    pub status_text: &'static str,
    pub staff: Option<String>,
    pub serving: Option<String>,
    pub rating_open_for: Option<u64>,
    pub green_channel: bool,
    pub assisted: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostponedView {
    pub label: String,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HallView {
    pub hall_id: String,
    pub name: String,
    /// The hall's IANA time zone: local dates and hours are in it.
    pub timezone: String,
    pub now: DateTime<Utc>,
    pub open: bool,
    pub closes_at: Option<DateTime<Utc>>,
    pub next_open: Option<DateTime<Utc>>,
    pub queues: Vec<QueueView>,
    pub windows: Vec<WindowView>,
    pub postponed: Vec<PostponedView>,
    pub waiting_total: usize,
    pub priority_waiting: usize,
    /// 先外后内 (第三十六条): windows paused while citizens wait.
    pub paused_while_waiting: Vec<WindowNo>,
    /// The ticket printer: whether it can print, and what is wrong if not.
    pub printer: PrinterView,
    /// Devices that stopped answering (`keypad@3`, `kiosk`, …).
    pub offline_devices: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrinterView {
    pub ready: bool,
    /// 缺纸 / 纸将尽 / 离线 …, empty when all is well.
    pub problems: String,
    pub paper_near_end: bool,
}

impl Hall {
    pub fn window_view(&self, number: WindowNo) -> Option<WindowView> {
        let def = self.setup.window(number)?;
        let live = self.state.windows.get(&number).cloned().unwrap_or_default();
        let status = live.status();
        Some(WindowView {
            number,
            name: def.name.clone(),
            status,
            status_text: status.chinese(),
            staff: live.staff.clone(),
            serving: live
                .serving
                .and_then(|id| self.state.tickets.get(&id))
                .map(|t| t.label.clone()),
            rating_open_for: self.state.ratings.get(&number).map(|r| r.transaction),
            green_channel: def.green_channel,
            assisted: def.assisted,
        })
    }

    pub fn view(&self, now: DateTime<Utc>) -> HallView {
        let today = self.setup.local_date(now);
        let queues = self
            .setup
            .queues
            .iter()
            .map(|q| {
                let waiting = self.waiting_in(&q.prefix);
                let ahead = self.ahead_of_new(&q.prefix, TicketClass::Normal);
                QueueView {
                    prefix: q.prefix.clone(),
                    name: q.name.clone(),
                    waiting,
                    estimated_wait_s: self.estimate_wait_s(&q.prefix, ahead),
                    issued_today: match self.state.numbers.get(&q.prefix) {
                        Some((d, n)) if *d == today => *n,
                        _ => 0,
                    },
                    paused: self.state.paused_queues.contains(&q.prefix),
                }
            })
            .collect();
        let windows: Vec<WindowView> = self
            .setup
            .windows
            .iter()
            .filter_map(|w| self.window_view(w.number))
            .collect();
        let postponed = self
            .state
            .tickets
            .values()
            .filter_map(|t| match t.state {
                TicketState::Postponed { until } => Some(PostponedView {
                    label: t.label.clone(),
                    until,
                }),
                _ => None,
            })
            .collect();
        let waiting: Vec<_> = self.state.tickets.values().filter(|t| t.is_waiting()).collect();
        let paused_while_waiting = windows
            .iter()
            .filter(|w| w.status == WindowStatus::Paused && self.candidates(w.number).next().is_some())
            .map(|w| w.number)
            .collect();
        let (open, closes_at, next_open) = match self.setup.open_state(now) {
            OpenState::Open { closes_at } => (true, Some(closes_at), None),
            OpenState::Closed { next_open } => (false, None, next_open),
        };
        HallView {
            hall_id: self.setup.hall_id.clone(),
            name: self.setup.name.clone(),
            timezone: self.setup.tz.name().to_string(),
            now,
            open,
            closes_at,
            next_open,
            queues,
            windows,
            postponed,
            waiting_total: waiting.len(),
            priority_waiting: waiting.iter().filter(|t| t.class.is_priority()).count(),
            paused_while_waiting,
            printer: PrinterView {
                ready: self.state.printer.ready(),
                problems: self.state.printer.problems(),
                paper_near_end: self.state.printer.paper_near_end,
            },
            offline_devices: self.state.offline.iter().cloned().collect(),
        }
    }
}
