//! Events: every change of hall state, as committed to the event log. The
//! events are the audit trail, the sync outbox and the source for reports;
//! replaying them rebuilds the hall exactly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bundle::ConfigBundle;
use super::device::{PrinterStatus, Severity};
use super::ticket::{Ticket, TicketId, WindowNo};
use super::transaction::{Transaction, TransactionId};

/// Where a transferred ticket goes (转移).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    Queue(String),
    Window(WindowNo),
}

/// Why a window stopped calling for a while (第三十七条).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseKind {
    /// 暂停服务: paused, no ticket at the window.
    Paused,
    /// 请您稍等: staff stepped away briefly, possibly mid-service.
    Away,
}

/// Why a rating key press did not become a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrayReason {
    /// No rating window open at that window (none opened, or it closed).
    NoRatingWindow,
}

/// One state change. `at` lives in the event-log envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// 取号: a ticket was issued, with what the citizen was told.
    TicketIssued {
        ticket: Ticket,
        ahead: u32,
        estimated_wait_s: u64,
    },
    /// 叫号: a window called a ticket (from the queue, or back from the postponed pool).
    TicketCalled {
        ticket: TicketId,
        label: String,
        window: WindowNo,
        staff: String,
        /// Chosen by call-next (true) or named by staff (false).
        next: bool,
    },
    /// 重呼: called again at the same window.
    TicketRecalled {
        ticket: TicketId,
        label: String,
        window: WindowNo,
        count: u32,
    },
    /// 过号: did not come; may be called back until `until`.
    TicketSkipped {
        ticket: TicketId,
        label: String,
        window: WindowNo,
        until: DateTime<Utc>,
    },
    /// A postponed ticket's hold ran out: a final no-show.
    TicketExpired {
        ticket: TicketId,
        label: String,
    },
    /// 作废: a waiting ticket whose print failed left the queue: nobody
    /// holds the number.
    TicketVoided {
        ticket: TicketId,
        label: String,
        reason: String,
    },
    /// Sent back to wait in another queue or for one window, keeping its place.
    TicketTransferred {
        ticket: TicketId,
        label: String,
        from_window: WindowNo,
        to: TransferTarget,
    },
    StaffLoggedIn {
        window: WindowNo,
        staff: String,
    },
    StaffLoggedOut {
        window: WindowNo,
        staff: String,
    },
    WindowPaused {
        window: WindowNo,
        kind: PauseKind,
    },
    WindowResumed {
        window: WindowNo,
    },
    /// 办结: the window finished a ticket; its rating window opens until `rating_until`.
    TransactionRecorded {
        transaction: Transaction,
        rating_until: DateTime<Utc>,
    },
    /// 服务评价: the citizen rated the transaction.
    Rated {
        transaction: TransactionId,
        window: WindowNo,
        key: u8,
        level: String,
    },
    /// The rating window closed without a key: recorded as unrated (未评价).
    Unrated {
        transaction: TransactionId,
        window: WindowNo,
    },
    /// A rating key pressed with no rating window open: never a rating.
    StrayPress {
        window: WindowNo,
        key: u8,
        reason: StrayReason,
    },
    /// The ticket printer's state changed: an alert (it cannot print, so no
    /// ticket is issued), a warning (paper near end) or ready again.
    PrinterChanged {
        status: PrinterStatus,
    },
    /// A device stopped answering (设备离线).
    DeviceOffline {
        device: String,
    },
    /// A device answers again.
    DeviceOnline {
        device: String,
    },
    /// The kiosk stopped issuing tickets for a queue (its lamp goes dark).
    QueuePaused {
        queue: String,
    },
    /// The queue issues tickets again.
    QueueResumed {
        queue: String,
    },
    /// A configuration bundle from the centre was checked and put in force.
    BundleApplied {
        bundle: ConfigBundle,
    },
}

impl Event {
    /// A short name for the event log's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TicketIssued { .. } => "ticket_issued",
            Event::TicketCalled { .. } => "ticket_called",
            Event::TicketRecalled { .. } => "ticket_recalled",
            Event::TicketSkipped { .. } => "ticket_skipped",
            Event::TicketExpired { .. } => "ticket_expired",
            Event::TicketVoided { .. } => "ticket_voided",
            Event::TicketTransferred { .. } => "ticket_transferred",
            Event::StaffLoggedIn { .. } => "staff_logged_in",
            Event::StaffLoggedOut { .. } => "staff_logged_out",
            Event::WindowPaused { .. } => "window_paused",
            Event::WindowResumed { .. } => "window_resumed",
            Event::TransactionRecorded { .. } => "transaction_recorded",
            Event::Rated { .. } => "rated",
            Event::Unrated { .. } => "unrated",
            Event::StrayPress { .. } => "stray_press",
            Event::PrinterChanged { status } => match status.severity() {
                Severity::Alert => "printer_alert",
                Severity::Warning => "printer_warning",
                Severity::Ok => "printer_ready",
            },
            Event::DeviceOffline { .. } => "device_offline",
            Event::DeviceOnline { .. } => "device_online",
            Event::QueuePaused { .. } => "queue_paused",
            Event::QueueResumed { .. } => "queue_resumed",
            Event::BundleApplied { .. } => "bundle_applied",
        }
    }
}
