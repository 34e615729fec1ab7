//! Transactions (业务办理记录): what a window did for a ticket, in the
//! terms of the one-window acceptance rules (一窗受理).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ticket::{TicketId, WindowNo};

pub type TransactionId = u64;

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// 即时办结: done on the spot.
    Done,
    /// 受理 (前台受理, 后台审批): accepted for back-office approval, due by `due`
    /// (限时办结, computed in working days from the items' time limits).
    Accepted { due: NaiveDate },
    /// 材料不全: the missing materials, told to the citizen once (一次性告知).
    Incomplete { missing: Vec<String> },
    /// Referred elsewhere (another agency, the bank, the centre).
    Referred { to: String },
    /// 不予受理: refused — only with a supervisor's approval (窗口无权否决).
    Refused { approval_id: String, reason: String },
}

impl Outcome {
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Accepted { .. } => "accepted",
            Outcome::Incomplete { .. } => "incomplete",
            Outcome::Referred { .. } => "referred",
            Outcome::Refused { .. } => "refused",
        }
    }
}

/// What staff submit when finishing a ticket; the due date of an accepted
/// case is computed by the hall, not typed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OutcomeInput {
    Done,
    Accepted,
    Incomplete {
        missing: Vec<String>,
    },
    Referred {
        to: String,
    },
    Refused {
        approval_id: String,
        #[serde(default)]
        reason: String,
    },
}

/// A finished piece of service at a window for one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TransactionId,
    pub ticket: TicketId,
    pub label: String,
    pub queue: String,
    pub window: WindowNo,
    /// 工号 of the staff member logged in at the window.
    pub staff: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Catalogue item codes handled (一窗受理标准化目录).
    pub items: Vec<u32>,
    pub outcome: Outcome,
}
