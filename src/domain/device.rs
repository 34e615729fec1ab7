//! What the hall knows about its devices: the ticket printer's state and which
//! devices stopped answering. Reported by the drivers as commands, recorded as
//! events like every other change, so the audit trail shows device patrols
//! (设备巡检) and alerts.

use serde::{Deserialize, Serialize};

/// The ticket printer's state, as read from its status replies (DLE EOT, GS a).
/// The default is a ready printer: a hall on the simulated printer never
/// reports anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrinterStatus {
    /// Not answering, or reports itself off line.
    pub offline: bool,
    /// 缺纸: paper end; printing stopped.
    pub paper_out: bool,
    /// 纸将尽: paper near end; still prints.
    pub paper_near_end: bool,
    /// 纸仓盖打开.
    pub cover_open: bool,
    /// 切刀错误.
    pub cutter_error: bool,
    /// Any other error the printer reports (unrecoverable or auto-recoverable).
    pub error: bool,
}

/// How serious a printer state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    /// Still prints; someone should act soon (paper near end).
    Warning,
    /// Cannot print: no ticket is issued until it is fixed.
    Alert,
}

impl PrinterStatus {
    /// Ready to print a ticket.
    pub fn ready(&self) -> bool {
        self.severity() != Severity::Alert
    }

    pub fn severity(&self) -> Severity {
        if self.offline || self.paper_out || self.cover_open || self.cutter_error || self.error {
            Severity::Alert
        } else if self.paper_near_end {
            Severity::Warning
        } else {
            Severity::Ok
        }
    }

    /// The problems, in words a hall manager understands ("" when none).
    pub fn problems(&self) -> String {
        let mut out = Vec::new();
        if self.offline {
            out.push("离线 offline");
        }
        if self.paper_out {
            out.push("缺纸 paper out");
        }
        if self.cover_open {
            out.push("纸仓盖打开 cover open");
        }
        if self.cutter_error {
            out.push("切刀错误 cutter error");
        }
        if self.error {
            out.push("故障 error");
        }
        if self.paper_near_end {
            out.push("纸将尽 paper near end");
        }
        out.join(", ")
    }
}

/// Checks a device name reported by a driver (`printer`, `keypad@3`, …).
pub fn valid_device_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_printing_problems_stop_issuing() {
        assert!(PrinterStatus::default().ready());
        let near = PrinterStatus {
            paper_near_end: true,
            ..Default::default()
        };
        assert!(near.ready());
        assert_eq!(near.severity(), Severity::Warning);
        for s in [
            PrinterStatus {
                paper_out: true,
                ..Default::default()
            },
            PrinterStatus {
                offline: true,
                ..Default::default()
            },
            PrinterStatus {
                cover_open: true,
                ..Default::default()
            },
        ] {
            assert!(!s.ready(), "{s:?}");
            assert!(!s.problems().is_empty());
        }
        assert!(valid_device_name("keypad@3"));
        assert!(!valid_device_name(""));
        assert!(!valid_device_name("a b"));
    }
}
