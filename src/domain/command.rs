//! Commands: everything a device, a page or a technician can ask of the hall.

use serde::{Deserialize, Serialize};

use super::device::PrinterStatus;
use super::event::{PauseKind, TransferTarget};
use super::ticket::{TicketClass, TicketId, WindowNo};
use super::transaction::OutcomeInput;

/// A ticket named by staff: its label (`A012`) or its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TicketRef {
    Id(u64),
    Label(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// 取号 at the kiosk.
    IssueTicket {
        queue: String,
        class: TicketClass,
    },
    /// Staff log in at a window with their 工号.
    Login {
        window: WindowNo,
        staff: String,
    },
    Logout {
        window: WindowNo,
    },
    /// 叫号: the next ticket by the call rules.
    CallNext {
        window: WindowNo,
    },
    /// Call a named ticket (e.g. back from the postponed pool).
    CallTicket {
        window: WindowNo,
        ticket: TicketRef,
    },
    /// 重呼.
    Recall {
        window: WindowNo,
    },
    /// 过号.
    Skip {
        window: WindowNo,
    },
    /// 转移.
    Transfer {
        window: WindowNo,
        to: TransferTarget,
    },
    /// 暂停服务 / 请您稍等.
    Pause {
        window: WindowNo,
        kind: PauseKind,
    },
    Resume {
        window: WindowNo,
    },
    /// 办结, with the catalogue items handled and the outcome.
    Finish {
        window: WindowNo,
        items: Vec<u32>,
        outcome: OutcomeInput,
    },
    /// A key on the window's rating keypad.
    Rate {
        window: WindowNo,
        key: u8,
    },
    /// The printer driver read the printer's state (recorded only when it changed).
    ReportPrinter {
        status: PrinterStatus,
    },
    /// A bus driver saw a device stop answering, or answer again (recorded only
    /// when it changed). `device` names it, e.g. `keypad@3`.
    ReportDevice {
        device: String,
        online: bool,
    },
    /// 作废: a waiting ticket that was committed but could not be printed
    /// (the printer failed while printing it): nobody holds the number, so it
    /// leaves the queue. Sent by the printer driver.
    VoidTicket {
        ticket: TicketId,
        reason: String,
    },
    /// The hall manager stops a queue issuing tickets (e.g. its daily
    /// capacity is reached early); tickets already issued are still called.
    PauseQueue {
        queue: String,
    },
    ResumeQueue {
        queue: String,
    },
}

impl Command {
    pub fn window(&self) -> Option<WindowNo> {
        match self {
            Command::IssueTicket { .. }
            | Command::ReportPrinter { .. }
            | Command::ReportDevice { .. }
            | Command::VoidTicket { .. }
            | Command::PauseQueue { .. }
            | Command::ResumeQueue { .. } => None,
            Command::Login { window, .. }
            | Command::Logout { window }
            | Command::CallNext { window }
            | Command::CallTicket { window, .. }
            | Command::Recall { window }
            | Command::Skip { window }
            | Command::Transfer { window, .. }
            | Command::Pause { window, .. }
            | Command::Resume { window }
            | Command::Finish { window, .. }
            | Command::Rate { window, .. } => Some(*window),
        }
    }
}
