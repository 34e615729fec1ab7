//! Tickets (取号): what the kiosk hands a citizen, and where it is in the hall.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A ticket's id: unique in the hall for ever (ticket *numbers* restart daily).
pub type TicketId = u64;

/// A counter window's number (窗口号), as painted above the counter.
pub type WindowNo = u16;

/// The class a ticket is issued in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TicketClass {
    /// 普通: an ordinary ticket.
    #[default]
    Normal,
    /// 绿色通道: the elderly, sick, disabled and pregnant (老弱病残孕) go first.
    Priority,
    /// 预约: a booked appointment checked in at the kiosk.
    Appointment,
}

impl TicketClass {
    /// Call order between classes: lower goes first.
    pub fn rank(self) -> u8 {
        match self {
            TicketClass::Priority => 0,
            TicketClass::Appointment => 1,
            TicketClass::Normal => 2,
        }
    }

    /// Whether this class jumps ahead of normal tickets (and so counts
    /// towards the anti-starvation streak).
    pub fn is_priority(self) -> bool {
        self != TicketClass::Normal
    }

    pub fn chinese(self) -> &'static str {
        match self {
            TicketClass::Normal => "普通",
            TicketClass::Priority => "绿色通道",
            TicketClass::Appointment => "预约",
        }
    }
}

/// Where a live ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TicketState {
    /// 等候: waiting to be called.
    Waiting,
    /// 办理中: called to, and being served at, a window.
    Serving { window: WindowNo },
    /// 过号: called but did not come; may be called back until `until`.
    Postponed { until: DateTime<Utc> },
}

/// A ticket that is still in the hall (waiting, being served or postponed).
/// Finished and expired tickets leave memory; the database keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    /// The printed label, e.g. `A012`; it never changes, even on transfer.
    pub label: String,
    /// The queue the number was drawn from (numbering is per queue per day).
    pub origin_queue: String,
    /// The number within `origin_queue` on `day`.
    pub number: u32,
    /// The hall's local date the ticket was issued on.
    pub day: NaiveDate,
    pub class: TicketClass,
    /// Issue time; kept on transfer so the citizen keeps their place.
    pub issued_at: DateTime<Utc>,
    /// The queue the ticket waits in now (differs from `origin_queue` after a transfer).
    pub queue: String,
    /// Set when transferred to one window: only that window may call it.
    pub target_window: Option<WindowNo>,
    pub state: TicketState,
    /// When the current service began (the last call).
    pub called_at: Option<DateTime<Utc>>,
    /// 重呼: how many times it was called again at the same window.
    pub recalls: u32,
    pub transfers: u32,
}

impl Ticket {
    pub fn is_waiting(&self) -> bool {
        self.state == TicketState::Waiting
    }

    /// The call order of waiting tickets: class, then issue time, then id.
    pub fn order_key(&self) -> (u8, DateTime<Utc>, TicketId) {
        (self.class.rank(), self.issued_at, self.id)
    }
}

/// `A` + 12 with 3 digits gives `A012`.
pub fn format_label(prefix: &str, number: u32, digits: u8) -> String {
    format!("{prefix}{number:0width$}", width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_zero_padded() {
        assert_eq!(format_label("A", 12, 3), "A012");
        assert_eq!(format_label("B", 1234, 3), "B1234");
        assert_eq!(format_label("C", 7, 4), "C0007");
    }

    #[test]
    fn priority_ranks_before_appointment_before_normal() {
        assert!(TicketClass::Priority.rank() < TicketClass::Appointment.rank());
        assert!(TicketClass::Appointment.rank() < TicketClass::Normal.rank());
        assert!(!TicketClass::Normal.is_priority());
    }
}
