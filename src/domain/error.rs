//! Why the hall refused a command. Every refusal says what to do instead.

use thiserror::Error;

use super::ticket::WindowNo;

/// Broad kinds, so callers (HTTP, keypads) can react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something named does not exist.
    NotFound,
    /// The request itself is malformed or incomplete.
    Invalid,
    /// Valid, but not possible in the hall's current state.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("no queue `{0}` in this hall")]
    UnknownQueue(String),
    #[error("no window {0} in this hall")]
    UnknownWindow(WindowNo),
    #[error("no ticket `{0}` is waiting, being served or postponed")]
    UnknownTicket(String),
    #[error("catalogue has no item {0}")]
    UnknownItem(u32),
    #[error("rating keypad has no key {0}")]
    UnknownRatingKey(u8),
    #[error("the hall is closed: {reason}")]
    HallClosed { reason: String },
    #[error("queue {queue} has issued its daily limit of {limit} tickets")]
    QueueFull { queue: String, limit: u32 },
    #[error("window {0} is closed (未开放): log in first")]
    WindowClosed(WindowNo),
    #[error("staff {staff} is already logged in at window {window}")]
    StaffElsewhere { staff: String, window: WindowNo },
    #[error("window {window} already has staff {staff} logged in: log out first")]
    AlreadyLoggedIn { window: WindowNo, staff: String },
    #[error("window {window} is serving {label}: finish, skip or transfer it first")]
    WindowBusy { window: WindowNo, label: String },
    #[error("window {0} is not serving a ticket")]
    NotServing(WindowNo),
    #[error("window {0} is paused: resume first")]
    WindowPaused(WindowNo),
    #[error("window {0} is not paused")]
    NotPaused(WindowNo),
    #[error("nobody is waiting for window {0}")]
    NothingWaiting(WindowNo),
    #[error("ticket {label} is {state} and cannot be called")]
    NotCallable { label: String, state: String },
    #[error("window {window} does not serve queue {queue}")]
    NotServedHere { window: WindowNo, queue: String },
    #[error("staff {0} is not on the hall's staff list from the centre")]
    StaffNotListed(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("item {code} ({name}) is only accepted before day {before_day} of the month")]
    ItemNotAcceptedToday {
        code: u32,
        name: String,
        before_day: u32,
    },
    #[error("ticket {label} is {state}: only a waiting ticket can be voided")]
    NotVoidable { label: String, state: String },
    #[error("the ticket printer is not ready ({problems}): no ticket was issued; call the technician")]
    PrinterNotReady { problems: String },
    #[error("queue {queue} is paused: no tickets are issued for it until it is resumed")]
    QueuePaused { queue: String },
}

impl DomainError {
    pub fn kind(&self) -> ErrorKind {
        use DomainError::*;
        match self {
            UnknownQueue(_) | UnknownWindow(_) | UnknownTicket(_) => ErrorKind::NotFound,
            UnknownItem(_) | UnknownRatingKey(_) | Invalid(_) => ErrorKind::Invalid,
            _ => ErrorKind::Conflict,
        }
    }

    /// A stable machine-readable code for API clients and keypads.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            UnknownQueue(_) => "unknown_queue",
            UnknownWindow(_) => "unknown_window",
            UnknownTicket(_) => "unknown_ticket",
            UnknownItem(_) => "unknown_item",
            UnknownRatingKey(_) => "unknown_rating_key",
            HallClosed { .. } => "hall_closed",
            QueueFull { .. } => "queue_full",
            WindowClosed(_) => "window_closed",
            StaffElsewhere { .. } => "staff_elsewhere",
            AlreadyLoggedIn { .. } => "already_logged_in",
            WindowBusy { .. } => "window_busy",
            NotServing(_) => "not_serving",
            WindowPaused(_) => "window_paused",
            NotPaused(_) => "not_paused",
            NothingWaiting(_) => "nothing_waiting",
            NotCallable { .. } => "not_callable",
            NotServedHere { .. } => "not_served_here",
            StaffNotListed(_) => "staff_not_listed",
            Invalid(_) => "invalid",
            ItemNotAcceptedToday { .. } => "item_not_accepted_today",
            PrinterNotReady { .. } => "printer_not_ready",
            QueuePaused { .. } => "queue_paused",
            NotVoidable { .. } => "not_voidable",
        }
    }
}
