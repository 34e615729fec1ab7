//! The hall (服务大厅): its live state and the pure rules that change it.
//!
//! `Hall::handle` checks a command against the state and returns the events it
//! causes, already applied; `Hall::apply` is the only code that changes the
//! state, so replaying the event log rebuilds the hall exactly. No I/O, no
//! clock: the time is an argument.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::bundle::{BundleError, ConfigBundle};
use super::command::{Command, TicketRef};
use super::device::{valid_device_name, PrinterStatus};
use super::error::DomainError;
use super::event::{Event, PauseKind, StrayReason, TransferTarget};
use super::policy::choose_next;
use super::setup::{HallSetup, OpenState};
use super::ticket::{format_label, Ticket, TicketClass, TicketId, TicketState, WindowNo};
use super::transaction::{Outcome, OutcomeInput, Transaction, TransactionId};

/// What a window shows above the counter (业务办理状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// 未开放: nobody logged in.
    Closed,
    /// 空闲: staff present, no ticket.
    Idle,
    /// 办理中: serving a ticket.
    Serving,
    /// 暂停服务.
    Paused,
    /// 请您稍等.
    Away,
}

impl WindowStatus {
    pub fn chinese(self) -> &'static str {
        match self {
            WindowStatus::Closed => "未开放",
            WindowStatus::Idle => "空闲",
            WindowStatus::Serving => "办理中",
            WindowStatus::Paused => "暂停服务",
            WindowStatus::Away => "请您稍等",
        }
    }
}

/// A window's live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WindowLive {
    /// 工号 of the staff member logged in, if any.
    pub staff: Option<String>,
    pub serving: Option<TicketId>,
    pub pause: Option<PauseKind>,
    /// Priority tickets called in a row by call-next (anti-starvation).
    pub priority_streak: u32,
}

impl WindowLive {
    pub fn status(&self) -> WindowStatus {
        match (&self.staff, self.pause, self.serving) {
            (None, _, _) => WindowStatus::Closed,
            (Some(_), Some(PauseKind::Away), _) => WindowStatus::Away,
            (Some(_), Some(PauseKind::Paused), _) => WindowStatus::Paused,
            (Some(_), None, Some(_)) => WindowStatus::Serving,
            (Some(_), None, None) => WindowStatus::Idle,
        }
    }
}

/// A rating keypad waiting for the citizen's key: it belongs to one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRating {
    pub transaction: TransactionId,
    pub until: DateTime<Utc>,
}

/// One finished service, for wait estimates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSample {
    pub window: WindowNo,
    pub queue: String,
    pub seconds: u32,
}

/// Samples kept for wait estimates, across all queues.
const SAMPLES_KEPT: usize = 256;

/// Everything that changes in a hall. Serialisable: the store snapshots it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HallState {
    pub next_ticket_id: TicketId,
    pub next_transaction_id: TransactionId,
    /// Per queue: the local day and the last number issued on it.
    pub numbers: BTreeMap<String, (NaiveDate, u32)>,
    /// Live tickets: waiting, serving, postponed.
    pub tickets: BTreeMap<TicketId, Ticket>,
    pub windows: BTreeMap<WindowNo, WindowLive>,
    /// Open rating windows, by counter window.
    pub ratings: BTreeMap<WindowNo, OpenRating>,
    pub recent: VecDeque<ServiceSample>,
    /// The ticket printer's last reported state (ready until told otherwise).
    #[serde(default)]
    pub printer: PrinterStatus,
    /// Devices that stopped answering, by name (`keypad@3`).
    #[serde(default)]
    pub offline: BTreeSet<String>,
    /// Queues the hall manager paused: the kiosk issues none of their tickets.
    #[serde(default)]
    pub paused_queues: BTreeSet<String>,
}

/// A hall: its fixed setup and its live state.
#[derive(Debug, Clone)]
pub struct Hall {
    pub setup: Arc<HallSetup>,
    pub state: HallState,
}

impl Hall {
    /// A hall on its first day: no tickets, every window closed.
    pub fn new(setup: Arc<HallSetup>) -> Self {
        Self::with_state(
            setup,
            HallState {
                next_ticket_id: 1,
                next_transaction_id: 1,
                ..HallState::default()
            },
        )
    }

    /// A hall resumed from a snapshot. Windows added to the configuration since
    /// start closed; windows removed keep their state until they are empty.
    pub fn with_state(setup: Arc<HallSetup>, mut state: HallState) -> Self {
        for w in &setup.windows {
            state.windows.entry(w.number).or_default();
        }
        Hall { setup, state }
    }

    // ----- queries ---------------------------------------------------------

    pub fn window(&self, number: WindowNo) -> Option<&WindowLive> {
        self.state.windows.get(&number)
    }

    pub fn ticket(&self, id: TicketId) -> Option<&Ticket> {
        self.state.tickets.get(&id)
    }

    /// Find a live ticket by id or label (the newest with that label).
    pub fn find_ticket(&self, r: &TicketRef) -> Option<&Ticket> {
        match r {
            TicketRef::Id(id) => self.state.tickets.get(id),
            TicketRef::Label(label) => {
                let label = label.trim().to_ascii_uppercase();
                self.state.tickets.values().rev().find(|t| t.label == label)
            }
        }
    }

    /// Whether window `w` may call ticket `t`.
    fn may_call(&self, w: WindowNo, t: &Ticket) -> bool {
        match t.target_window {
            Some(target) => target == w,
            None => self
                .setup
                .window(w)
                .is_some_and(|def| def.queues.contains(&t.queue)),
        }
    }

    /// How window `w` ranks ticket `t`'s queue: 0 for every ticket when it
    /// takes the oldest first; otherwise the queue's place in its list (a
    /// ticket transferred to this very window comes first).
    pub fn preference(&self, w: WindowNo, t: &Ticket) -> usize {
        match self.setup.window(w) {
            Some(def) if def.listed_order && t.target_window != Some(w) => def
                .queues
                .iter()
                .position(|q| *q == t.queue)
                .map_or(usize::MAX, |p| p + 1),
            _ => 0,
        }
    }

    /// Waiting tickets window `w` may call.
    pub fn candidates(&self, w: WindowNo) -> impl Iterator<Item = &Ticket> + '_ {
        self.state
            .tickets
            .values()
            .filter(move |t| t.is_waiting() && self.may_call(w, t))
    }

    pub fn waiting_in(&self, queue: &str) -> usize {
        self.state
            .tickets
            .values()
            .filter(|t| t.is_waiting() && t.queue == queue)
            .count()
    }

    /// Queues that share a window with `queue` (including itself): their
    /// tickets compete for the same counters.
    fn competing_queues<'a>(&'a self, queue: &'a str) -> BTreeSet<&'a str> {
        self.setup
            .windows_serving(queue)
            .flat_map(|w| w.queues.iter().map(String::as_str))
            .chain(std::iter::once(queue))
            .collect()
    }

    /// People ahead of a ticket of `class` issued now in `queue`.
    pub fn ahead_of_new(&self, queue: &str, class: TicketClass) -> u32 {
        let competing = self.competing_queues(queue);
        self.state
            .tickets
            .values()
            .filter(|t| {
                t.is_waiting()
                    && t.class.rank() <= class.rank()
                    && (competing.contains(t.queue.as_str()) || t.target_window.is_some())
            })
            .count() as u32
    }

    /// Average service time at the windows that serve `queue`, from the most
    /// recent finished services there (or the configured default).
    pub fn average_service_s(&self, queue: &str) -> u64 {
        let serving: BTreeSet<WindowNo> = self.setup.windows_serving(queue).map(|w| w.number).collect();
        let samples: Vec<u64> = self
            .state
            .recent
            .iter()
            .rev()
            .filter(|s| serving.contains(&s.window))
            .take(self.setup.rules.recent_services.max(1))
            .map(|s| u64::from(s.seconds))
            .collect();
        if samples.is_empty() {
            self.setup.rules.default_service.num_seconds().max(1) as u64
        } else {
            samples.iter().sum::<u64>() / samples.len() as u64
        }
    }

    /// Estimated wait (第四十一条) for someone with `ahead` people before them:
    /// each counter that serves the queue and is staffed takes a share.
    pub fn estimate_wait_s(&self, queue: &str, ahead: u32) -> u64 {
        let staffed = self
            .setup
            .windows_serving(queue)
            .filter(|w| {
                self.window(w.number)
                    .is_some_and(|l| l.staff.is_some() && l.pause != Some(PauseKind::Paused))
            })
            .count()
            .max(1) as u64;
        (u64::from(ahead) * self.average_service_s(queue)).div_ceil(staffed)
    }

    /// The earliest moment something expires by itself (a rating window, a
    /// postponed ticket), so the engine can sleep until then.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let ratings = self.state.ratings.values().map(|r| r.until);
        let held = self.state.tickets.values().filter_map(|t| match t.state {
            TicketState::Postponed { until } => Some(until),
            _ => None,
        });
        ratings.chain(held).min()
    }

    /// Whether a ticket for `queue` would be issued at `now` (hours, daily
    /// limit, printer): the kiosk lights a button's lamp only then.
    pub fn would_issue(&self, queue: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.issue_allowed(queue, now).map(|_| ())
    }

    /// The kiosk lamps: per queue prefix, lit when pressing would issue a ticket.
    pub fn kiosk_lamps(&self, now: DateTime<Utc>) -> BTreeMap<String, bool> {
        self.setup
            .queues
            .iter()
            .map(|q| (q.prefix.clone(), self.would_issue(&q.prefix, now).is_ok()))
            .collect()
    }

    // ----- changes ---------------------------------------------------------

    /// Expire what is due at `now`: rating windows (unrated) and postponed
    /// tickets past their hold (no-show). Returns the applied events.
    pub fn sweep(&mut self, now: DateTime<Utc>) -> Vec<Event> {
        let mut events = Vec::new();
        for (window, r) in &self.state.ratings {
            if r.until <= now {
                events.push(Event::Unrated {
                    transaction: r.transaction,
                    window: *window,
                });
            }
        }
        for t in self.state.tickets.values() {
            if let TicketState::Postponed { until } = t.state {
                if until <= now {
                    events.push(Event::TicketExpired {
                        ticket: t.id,
                        label: t.label.clone(),
                    });
                }
            }
        }
        for e in &events {
            self.apply(now, e);
        }
        events
    }

    /// Check `cmd` at `now`; on success apply and return its events. On error
    /// nothing has changed.
    pub fn handle(&mut self, cmd: &Command, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        let events = self.decide(cmd, now)?;
        for e in &events {
            self.apply(now, e);
        }
        Ok(events)
    }

    fn live_window(&self, number: WindowNo) -> Result<&WindowLive, DomainError> {
        if self.setup.window(number).is_none() {
            return Err(DomainError::UnknownWindow(number));
        }
        self.state
            .windows
            .get(&number)
            .ok_or(DomainError::UnknownWindow(number))
    }

    /// A window with staff, not paused: ready to work.
    fn working_window(&self, number: WindowNo) -> Result<(&WindowLive, &str), DomainError> {
        let w = self.live_window(number)?;
        let staff = w.staff.as_deref().ok_or(DomainError::WindowClosed(number))?;
        if w.pause.is_some() {
            return Err(DomainError::WindowPaused(number));
        }
        Ok((w, staff))
    }

    fn serving_ticket(&self, number: WindowNo) -> Result<&Ticket, DomainError> {
        let (w, _) = self.working_window(number)?;
        let id = w.serving.ok_or(DomainError::NotServing(number))?;
        self.state
            .tickets
            .get(&id)
            .ok_or_else(|| DomainError::UnknownTicket(id.to_string()))
    }

    fn ensure_free(&self, number: WindowNo, w: &WindowLive) -> Result<(), DomainError> {
        match w.serving.and_then(|id| self.state.tickets.get(&id)) {
            Some(t) => Err(DomainError::WindowBusy {
                window: number,
                label: t.label.clone(),
            }),
            None => Ok(()),
        }
    }

    fn decide(&self, cmd: &Command, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        match cmd {
            Command::IssueTicket { queue, class } => self.decide_issue(queue, *class, now).map(|e| vec![e]),
            Command::Login { window, staff } => {
                let w = self.live_window(*window)?;
                let staff = staff.trim();
                if staff.is_empty()
                    || staff.len() > 32
                    || !staff.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(DomainError::Invalid(
                        "staff number (工号) must be 1–32 letters, digits or '-'".into(),
                    ));
                }
                if let Some(listed) = &self.setup.staff {
                    if !listed.contains(staff) {
                        return Err(DomainError::StaffNotListed(staff.to_string()));
                    }
                }
                if let Some(current) = &w.staff {
                    return Err(DomainError::AlreadyLoggedIn {
                        window: *window,
                        staff: current.clone(),
                    });
                }
                if let Some((other, _)) = self
                    .state
                    .windows
                    .iter()
                    .find(|(_, l)| l.staff.as_deref() == Some(staff))
                {
                    return Err(DomainError::StaffElsewhere {
                        staff: staff.to_string(),
                        window: *other,
                    });
                }
                Ok(vec![Event::StaffLoggedIn {
                    window: *window,
                    staff: staff.to_string(),
                }])
            }
            Command::Logout { window } => {
                let w = self.live_window(*window)?;
                let staff = w.staff.clone().ok_or(DomainError::WindowClosed(*window))?;
                self.ensure_free(*window, w)?;
                Ok(vec![Event::StaffLoggedOut {
                    window: *window,
                    staff,
                }])
            }
            Command::CallNext { window } => {
                let (w, staff) = self.working_window(*window)?;
                self.ensure_free(*window, w)?;
                let green = self.setup.window(*window).is_some_and(|d| d.green_channel);
                let t = choose_next(
                    self.candidates(*window),
                    |t| self.preference(*window, t),
                    w.priority_streak,
                    green,
                    &self.setup.rules,
                    now,
                )
                .ok_or(DomainError::NothingWaiting(*window))?;
                Ok(vec![Event::TicketCalled {
                    ticket: t.id,
                    label: t.label.clone(),
                    window: *window,
                    staff: staff.to_string(),
                    next: true,
                }])
            }
            Command::CallTicket { window, ticket } => {
                let (w, staff) = self.working_window(*window)?;
                self.ensure_free(*window, w)?;
                let t = self.find_ticket(ticket).ok_or_else(|| {
                    DomainError::UnknownTicket(match ticket {
                        TicketRef::Id(id) => id.to_string(),
                        TicketRef::Label(l) => l.clone(),
                    })
                })?;
                if let TicketState::Serving { window: at } = t.state {
                    return Err(DomainError::NotCallable {
                        label: t.label.clone(),
                        state: format!("being served at window {at}"),
                    });
                }
                if !self.may_call(*window, t) {
                    return Err(DomainError::NotServedHere {
                        window: *window,
                        queue: t.queue.clone(),
                    });
                }
                Ok(vec![Event::TicketCalled {
                    ticket: t.id,
                    label: t.label.clone(),
                    window: *window,
                    staff: staff.to_string(),
                    next: false,
                }])
            }
            Command::Recall { window } => {
                let t = self.serving_ticket(*window)?;
                Ok(vec![Event::TicketRecalled {
                    ticket: t.id,
                    label: t.label.clone(),
                    window: *window,
                    count: t.recalls + 1,
                }])
            }
            Command::Skip { window } => {
                let t = self.serving_ticket(*window)?;
                Ok(vec![Event::TicketSkipped {
                    ticket: t.id,
                    label: t.label.clone(),
                    window: *window,
                    until: now + self.setup.rules.no_show_hold,
                }])
            }
            Command::Transfer { window, to } => {
                let t = self.serving_ticket(*window)?;
                match to {
                    TransferTarget::Queue(q) => {
                        if self.setup.queue(q).is_none() {
                            return Err(DomainError::UnknownQueue(q.clone()));
                        }
                    }
                    TransferTarget::Window(w) => {
                        self.live_window(*w)?;
                        if w == window {
                            return Err(DomainError::Invalid(
                                "cannot transfer a ticket to its own window".into(),
                            ));
                        }
                    }
                }
                Ok(vec![Event::TicketTransferred {
                    ticket: t.id,
                    label: t.label.clone(),
                    from_window: *window,
                    to: to.clone(),
                }])
            }
            Command::Pause { window, kind } => {
                let w = self.live_window(*window)?;
                if w.staff.is_none() {
                    return Err(DomainError::WindowClosed(*window));
                }
                if *kind == PauseKind::Paused {
                    // 暂停服务 only between customers; 请您稍等 may be mid-service.
                    self.ensure_free(*window, w)?;
                }
                if w.pause == Some(*kind) {
                    return Ok(vec![]);
                }
                Ok(vec![Event::WindowPaused {
                    window: *window,
                    kind: *kind,
                }])
            }
            Command::Resume { window } => {
                let w = self.live_window(*window)?;
                if w.staff.is_none() {
                    return Err(DomainError::WindowClosed(*window));
                }
                if w.pause.is_none() {
                    return Err(DomainError::NotPaused(*window));
                }
                Ok(vec![Event::WindowResumed { window: *window }])
            }
            Command::Finish {
                window,
                items,
                outcome,
            } => self.decide_finish(*window, items, outcome, now),
            Command::Rate { window, key } => {
                self.live_window(*window)?;
                let level = self
                    .setup
                    .rating_level(*key)
                    .ok_or(DomainError::UnknownRatingKey(*key))?;
                Ok(vec![match self.state.ratings.get(window) {
                    Some(r) if r.until > now => Event::Rated {
                        transaction: r.transaction,
                        window: *window,
                        key: *key,
                        level: level.name.clone(),
                    },
                    _ => Event::StrayPress {
                        window: *window,
                        key: *key,
                        reason: StrayReason::NoRatingWindow,
                    },
                }])
            }
            Command::VoidTicket { ticket, reason } => {
                let t = self
                    .state
                    .tickets
                    .get(ticket)
                    .ok_or_else(|| DomainError::UnknownTicket(ticket.to_string()))?;
                if !t.is_waiting() {
                    return Err(DomainError::NotVoidable {
                        label: t.label.clone(),
                        state: match t.state {
                            TicketState::Serving { window } => format!("being served at window {window}"),
                            _ => "postponed (过号)".to_string(),
                        },
                    });
                }
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 200 {
                    return Err(DomainError::Invalid("a void reason is 1–200 characters".into()));
                }
                Ok(vec![Event::TicketVoided {
                    ticket: *ticket,
                    label: t.label.clone(),
                    reason: reason.to_string(),
                }])
            }
            Command::ReportPrinter { status } => Ok(if *status == self.state.printer {
                vec![]
            } else {
                vec![Event::PrinterChanged { status: *status }]
            }),
            Command::ReportDevice { device, online } => {
                if !valid_device_name(device) {
                    return Err(DomainError::Invalid(
                        "a device name is 1–32 letters, digits or @-_.".into(),
                    ));
                }
                let known_offline = self.state.offline.contains(device);
                Ok(match (online, known_offline) {
                    (true, true) => vec![Event::DeviceOnline {
                        device: device.clone(),
                    }],
                    (false, false) => vec![Event::DeviceOffline {
                        device: device.clone(),
                    }],
                    _ => vec![],
                })
            }
            Command::PauseQueue { queue } | Command::ResumeQueue { queue } => {
                let prefix = queue.trim().to_ascii_uppercase();
                if self.setup.queue(&prefix).is_none() {
                    return Err(DomainError::UnknownQueue(queue.clone()));
                }
                let pause = matches!(cmd, Command::PauseQueue { .. });
                Ok(match (pause, self.state.paused_queues.contains(&prefix)) {
                    (true, false) => vec![Event::QueuePaused { queue: prefix }],
                    (false, true) => vec![Event::QueueResumed { queue: prefix }],
                    _ => vec![],
                })
            }
        }
    }

    /// Whether a ticket may be issued in `queue` now: the queue exists, the
    /// hall is open, the daily limit is not reached, the printer can print.
    /// Returns the queue prefix, today and the last number issued today.
    fn issue_allowed(
        &self,
        queue: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, NaiveDate, u32), DomainError> {
        let prefix = queue.trim().to_ascii_uppercase();
        let def = self
            .setup
            .queue(&prefix)
            .ok_or_else(|| DomainError::UnknownQueue(queue.to_string()))?;
        if let OpenState::Closed { next_open } = self.setup.open_state(now) {
            let reason = match next_open {
                Some(t) => format!(
                    "outside opening hours; next opening {}",
                    self.setup.local_time(t).format("%Y-%m-%d %H:%M")
                ),
                None => "no opening hours in the next 60 days".to_string(),
            };
            return Err(DomainError::HallClosed { reason });
        }
        let day = self.setup.local_date(now);
        let last = match self.state.numbers.get(&prefix) {
            Some((d, n)) if *d == day => *n,
            _ => 0,
        };
        if let Some(limit) = def.daily_limit {
            if last >= limit {
                return Err(DomainError::QueueFull { queue: prefix, limit });
            }
        }
        if self.state.paused_queues.contains(&prefix) {
            return Err(DomainError::QueuePaused { queue: prefix });
        }
        if !self.state.printer.ready() {
            // No number that nobody holds: without a printed ticket the citizen has nothing.
            return Err(DomainError::PrinterNotReady {
                problems: self.state.printer.problems(),
            });
        }
        Ok((prefix, day, last))
    }

    fn decide_issue(
        &self,
        queue: &str,
        class: TicketClass,
        now: DateTime<Utc>,
    ) -> Result<Event, DomainError> {
        let (prefix, day, last) = self.issue_allowed(queue, now)?;
        let number = last + 1;
        let ahead = self.ahead_of_new(&prefix, class);
        let ticket = Ticket {
            id: self.state.next_ticket_id,
            label: format_label(&prefix, number, self.setup.rules.number_digits),
            origin_queue: prefix.clone(),
            number,
            day,
            class,
            issued_at: now,
            queue: prefix.clone(),
            target_window: None,
            state: TicketState::Waiting,
            called_at: None,
            recalls: 0,
            transfers: 0,
        };
        Ok(Event::TicketIssued {
            estimated_wait_s: self.estimate_wait_s(&prefix, ahead),
            ticket,
            ahead,
        })
    }

    fn decide_finish(
        &self,
        window: WindowNo,
        items: &[u32],
        input: &OutcomeInput,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        let t = self.serving_ticket(window)?;
        let staff = self.state.windows[&window].staff.clone().unwrap_or_default();
        if items.is_empty() {
            return Err(DomainError::Invalid(
                "name at least one catalogue item (一窗受理标准化目录) handled".into(),
            ));
        }
        let mut codes: Vec<u32> = items.to_vec();
        codes.sort_unstable();
        codes.dedup();
        let today = self.setup.local_date(now);
        let mut catalog_items = Vec::with_capacity(codes.len());
        for code in &codes {
            catalog_items.push(
                self.setup
                    .catalog
                    .get(*code)
                    .ok_or(DomainError::UnknownItem(*code))?,
            );
        }
        let nonempty = |s: &str, what: &str| -> Result<String, DomainError> {
            let s = s.trim();
            if s.is_empty() {
                Err(DomainError::Invalid(what.to_string()))
            } else {
                Ok(s.to_string())
            }
        };
        let outcome = match input {
            OutcomeInput::Done | OutcomeInput::Accepted => {
                for item in &catalog_items {
                    if !item.limit.accepts_on(today) {
                        if let super::catalog::TimeLimit::MonthlyCutoff { before_day } = item.limit {
                            return Err(DomainError::ItemNotAcceptedToday {
                                code: item.code,
                                name: item.name.clone(),
                                before_day,
                            });
                        }
                    }
                }
                if *input == OutcomeInput::Done {
                    Outcome::Done
                } else {
                    let due = catalog_items
                        .iter()
                        .map(|i| i.limit.due_date(today, &self.setup.calendar))
                        .max()
                        .unwrap_or(today);
                    Outcome::Accepted { due }
                }
            }
            OutcomeInput::Incomplete { missing } => {
                let missing: Vec<String> = missing
                    .iter()
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect();
                if missing.is_empty() {
                    return Err(DomainError::Invalid(
                        "list the missing materials, so the citizen is told once (一次性告知)".into(),
                    ));
                }
                Outcome::Incomplete { missing }
            }
            OutcomeInput::Referred { to } => Outcome::Referred {
                to: nonempty(to, "say where the citizen was referred to")?,
            },
            OutcomeInput::Refused { approval_id, reason } => Outcome::Refused {
                approval_id: nonempty(
                    approval_id,
                    "a refusal needs the supervisor's approval id (窗口无权否决)",
                )?,
                reason: reason.trim().to_string(),
            },
        };
        let mut events = Vec::with_capacity(2);
        if let Some(open) = self.state.ratings.get(&window) {
            // A new transaction takes the keypad over: the previous citizen has gone.
            events.push(Event::Unrated {
                transaction: open.transaction,
                window,
            });
        }
        events.push(Event::TransactionRecorded {
            transaction: Transaction {
                id: self.state.next_transaction_id,
                ticket: t.id,
                label: t.label.clone(),
                queue: t.queue.clone(),
                window,
                staff,
                started_at: t.called_at.unwrap_or(now),
                finished_at: now,
                items: codes,
                outcome,
            },
            rating_until: now + self.setup.rules.rating_window,
        });
        Ok(events)
    }

    /// Apply one event. The only code that changes hall state; used live and on replay.
    pub fn apply(&mut self, at: DateTime<Utc>, event: &Event) {
        if let Event::BundleApplied { bundle } = event {
            // On replay the setup may already hold this bundle (or a newer one).
            if bundle.version > self.setup.bundle_version {
                if let Ok(next) = bundle.apply_to(&self.setup) {
                    self.setup = Arc::new(next);
                }
            }
            return;
        }
        let s = &mut self.state;
        match event {
            Event::TicketIssued { ticket, .. } => {
                s.numbers
                    .insert(ticket.origin_queue.clone(), (ticket.day, ticket.number));
                s.next_ticket_id = s.next_ticket_id.max(ticket.id + 1);
                s.tickets.insert(ticket.id, ticket.clone());
            }
            Event::TicketCalled {
                ticket, window, next, ..
            } => {
                let mut class = None;
                if let Some(t) = s.tickets.get_mut(ticket) {
                    t.state = TicketState::Serving { window: *window };
                    t.called_at = Some(at);
                    t.target_window = None;
                    class = Some(t.class);
                }
                let w = s.windows.entry(*window).or_default();
                w.serving = Some(*ticket);
                if *next {
                    match class {
                        Some(c) if c.is_priority() => w.priority_streak += 1,
                        _ => w.priority_streak = 0,
                    }
                }
            }
            Event::TicketRecalled { ticket, count, .. } => {
                if let Some(t) = s.tickets.get_mut(ticket) {
                    t.recalls = *count;
                }
            }
            Event::TicketSkipped {
                ticket,
                window,
                until,
                ..
            } => {
                if let Some(t) = s.tickets.get_mut(ticket) {
                    t.state = TicketState::Postponed { until: *until };
                }
                release(s, *window, *ticket);
            }
            Event::TicketExpired { ticket, .. } | Event::TicketVoided { ticket, .. } => {
                s.tickets.remove(ticket);
            }
            Event::TicketTransferred {
                ticket,
                from_window,
                to,
                ..
            } => {
                if let Some(t) = s.tickets.get_mut(ticket) {
                    t.state = TicketState::Waiting;
                    t.called_at = None;
                    t.transfers += 1;
                    match to {
                        TransferTarget::Queue(q) => {
                            t.queue = q.clone();
                            t.target_window = None;
                        }
                        TransferTarget::Window(w) => t.target_window = Some(*w),
                    }
                }
                release(s, *from_window, *ticket);
            }
            Event::StaffLoggedIn { window, staff } => {
                let w = s.windows.entry(*window).or_default();
                w.staff = Some(staff.clone());
                w.pause = None;
                w.priority_streak = 0;
            }
            Event::StaffLoggedOut { window, .. } => {
                let w = s.windows.entry(*window).or_default();
                w.staff = None;
                w.pause = None;
                w.priority_streak = 0;
            }
            Event::WindowPaused { window, kind } => {
                s.windows.entry(*window).or_default().pause = Some(*kind);
            }
            Event::WindowResumed { window } => {
                s.windows.entry(*window).or_default().pause = None;
            }
            Event::TransactionRecorded {
                transaction,
                rating_until,
            } => {
                s.tickets.remove(&transaction.ticket);
                release(s, transaction.window, transaction.ticket);
                s.next_transaction_id = s.next_transaction_id.max(transaction.id + 1);
                s.ratings.insert(
                    transaction.window,
                    OpenRating {
                        transaction: transaction.id,
                        until: *rating_until,
                    },
                );
                let seconds = (transaction.finished_at - transaction.started_at)
                    .num_seconds()
                    .clamp(0, i64::from(u32::MAX)) as u32;
                s.recent.push_back(ServiceSample {
                    window: transaction.window,
                    queue: transaction.queue.clone(),
                    seconds,
                });
                while s.recent.len() > SAMPLES_KEPT {
                    s.recent.pop_front();
                }
            }
            Event::Rated {
                transaction, window, ..
            }
            | Event::Unrated { transaction, window } => {
                if s.ratings
                    .get(window)
                    .is_some_and(|r| r.transaction == *transaction)
                {
                    s.ratings.remove(window);
                }
            }
            Event::StrayPress { .. } | Event::BundleApplied { .. } => {}
            Event::PrinterChanged { status } => s.printer = *status,
            Event::DeviceOffline { device } => {
                s.offline.insert(device.clone());
            }
            Event::DeviceOnline { device } => {
                s.offline.remove(device);
            }
            Event::QueuePaused { queue } => {
                s.paused_queues.insert(queue.clone());
            }
            Event::QueueResumed { queue } => {
                s.paused_queues.remove(queue);
            }
        }
    }

    /// Check a configuration bundle from the centre whole; on success put it in
    /// force and return its event. On error nothing has changed.
    pub fn apply_bundle(
        &mut self,
        bundle: &ConfigBundle,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, BundleError> {
        if bundle.version <= self.setup.bundle_version {
            return Err(BundleError::NotNewer {
                version: bundle.version,
                current: self.setup.bundle_version,
            });
        }
        bundle.apply_to(&self.setup)?;
        let event = Event::BundleApplied {
            bundle: bundle.clone(),
        };
        self.apply(now, &event);
        Ok(vec![event])
    }
}

/// The window no longer serves `ticket`.
fn release(s: &mut HallState, window: WindowNo, ticket: TicketId) {
    if let Some(w) = s.windows.get_mut(&window) {
        if w.serving == Some(ticket) {
            w.serving = None;
        }
    }
}
