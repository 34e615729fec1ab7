//! Configuration bundles from the centre (中心下发配置): the one-window
//! catalogue, the working-day calendar, the notices rolled on the hall display
//! and the staff list. Each part is optional: a part left out keeps what the hall
//! has. A bundle is checked whole before anything changes; a bad one is refused
//! with the part and the problem, and the hall keeps the configuration it had.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::catalog::Catalog;
use super::setup::HallSetup;

/// Most notices a bundle may carry, and the longest notice in characters.
pub const MAX_NOTICES: usize = 50;
pub const MAX_NOTICE_CHARS: usize = 500;

/// A versioned configuration bundle, as published by the centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBundle {
    /// Increases with every bundle the centre publishes; a hall applies only newer ones.
    pub version: i64,
    /// The catalogue as TOML text (the format of `config/catalog.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Working-day calendars as TOML texts, one per year (the format of
    /// `config/calendar/*.toml`); they replace the hall's calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendars: Option<Vec<String>>,
    /// Notices rolled on the waiting-hall display (滚动播放最新政策信息).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notices: Option<Vec<String>>,
    /// 工号 of the staff allowed to log in at this hall's windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<Vec<String>>,
}

/// Why a bundle was refused. The hall's configuration did not change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {version}: catalog: {problem}")]
    Catalog { version: i64, problem: String },
    #[error("bundle {version}: calendars[{index}]: {problem}")]
    Calendar {
        version: i64,
        index: usize,
        problem: String,
    },
    #[error("bundle {version}: notices: {problem}")]
    Notices { version: i64, problem: String },
    #[error("bundle {version}: staff: {problem}")]
    Staff { version: i64, problem: String },
    #[error("bundle {version} is not newer than the bundle applied ({current})")]
    NotNewer { version: i64, current: i64 },
}

/// A staff number (工号): 1–32 letters, digits or '-'. The same rule as log-in.
pub fn valid_staff_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl ConfigBundle {
    /// Check every part, then return `base` with the parts this bundle carries
    /// replaced. Nothing is changed on error.
    pub fn apply_to(&self, base: &HallSetup) -> Result<HallSetup, BundleError> {
        let v = self.version;
        let mut next = base.clone();
        if let Some(text) = &self.catalog {
            let catalog = Catalog::from_toml_str(text).map_err(|e| BundleError::Catalog {
                version: v,
                problem: e.to_string(),
            })?;
            for q in &base.queues {
                for g in &q.groups {
                    if !catalog.items().any(|i| i.group == *g) {
                        return Err(BundleError::Catalog {
                            version: v,
                            problem: format!(
                                "no item of group {} left for queue {} ({})",
                                g.chinese(),
                                q.prefix,
                                q.name
                            ),
                        });
                    }
                }
            }
            next.catalog = catalog;
        }
        if let Some(texts) = &self.calendars {
            let mut cal = Calendar::weekends_only();
            for (index, t) in texts.iter().enumerate() {
                let c = Calendar::from_toml_str(t).map_err(|e| BundleError::Calendar {
                    version: v,
                    index,
                    problem: e.to_string(),
                })?;
                cal.merge(c);
            }
            next.calendar = cal;
        }
        if let Some(notices) = &self.notices {
            if notices.len() > MAX_NOTICES {
                return Err(BundleError::Notices {
                    version: v,
                    problem: format!("{} notices, at most {MAX_NOTICES}", notices.len()),
                });
            }
            for (i, n) in notices.iter().enumerate() {
                if n.trim().is_empty() {
                    return Err(BundleError::Notices {
                        version: v,
                        problem: format!("notice {i} is empty"),
                    });
                }
                if n.chars().count() > MAX_NOTICE_CHARS {
                    return Err(BundleError::Notices {
                        version: v,
                        problem: format!("notice {i} is longer than {MAX_NOTICE_CHARS} characters"),
                    });
                }
            }
            next.notices = notices.iter().map(|n| n.trim().to_string()).collect();
        }
        if let Some(staff) = &self.staff {
            let mut set = BTreeSet::new();
            for s in staff {
                let s = s.trim();
                if !valid_staff_id(s) {
                    return Err(BundleError::Staff {
                        version: v,
                        problem: format!("`{s}` is not a staff number (1–32 letters, digits or '-')"),
                    });
                }
                if !set.insert(s.to_string()) {
                    return Err(BundleError::Staff {
                        version: v,
                        problem: format!("`{s}` is listed twice"),
                    });
                }
            }
            next.staff = Some(set);
        }
        next.bundle_version = v;
        Ok(next)
    }

    /// The bundle that results from applying `newer` after `self`: its parts
    /// replace ours, ours stay where it has none. Kept by the store so a
    /// restart rebuilds the same setup.
    pub fn merged_with(&self, newer: &ConfigBundle) -> ConfigBundle {
        ConfigBundle {
            version: newer.version,
            catalog: newer.catalog.clone().or_else(|| self.catalog.clone()),
            calendars: newer.calendars.clone().or_else(|| self.calendars.clone()),
            notices: newer.notices.clone().or_else(|| self.notices.clone()),
            staff: newer.staff.clone().or_else(|| self.staff.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::setup;

    fn bundle(version: i64) -> ConfigBundle {
        ConfigBundle {
            version,
            catalog: None,
            calendars: None,
            notices: None,
            staff: None,
        }
    }

    #[test]
    fn a_good_bundle_replaces_only_its_parts() {
        let base = setup();
        let b = ConfigBundle {
            notices: Some(vec!["  公积金贷款利率下调  ".into()]),
            staff: Some(vec!["S001".into(), "S002".into()]),
            calendars: Some(vec![include_str!("../../config/calendar/cn-2026.toml").into()]),
            ..bundle(3)
        };
        let s = b.apply_to(&base).unwrap();
        assert_eq!(s.notices, ["公积金贷款利率下调"]);
        assert_eq!(s.staff.as_ref().unwrap().len(), 2);
        assert_eq!(s.bundle_version, 3);
        assert_eq!(s.catalog.len(), base.catalog.len());
        assert!(s.calendar.covers_year(2026));
    }

    #[test]
    fn a_bad_part_refuses_the_whole_bundle_and_names_it() {
        let base = setup();
        let b = ConfigBundle {
            notices: Some(vec!["ok".into()]),
            catalog: Some(
                "[[item]]\ncode = 0\nname = \"x\"\ngroup = \"归集\"\nlimit = \"即时办理\"\n".into(),
            ),
            ..bundle(4)
        };
        let e = b.apply_to(&base).unwrap_err();
        assert!(matches!(e, BundleError::Catalog { version: 4, .. }), "{e}");
        assert!(e.to_string().starts_with("bundle 4: catalog:"), "{e}");

        let b = ConfigBundle {
            calendars: Some(vec![
                "year = 2026\n[[holiday]]\nname = \"x\"\noff = [\"2026-13-01\"]\n".into(),
            ]),
            ..bundle(5)
        };
        assert!(matches!(
            b.apply_to(&base).unwrap_err(),
            BundleError::Calendar { index: 0, .. }
        ));
        let b = ConfigBundle {
            staff: Some(vec!["S 1".into()]),
            ..bundle(6)
        };
        assert!(b.apply_to(&base).unwrap_err().to_string().contains("`S 1`"));
        let b = ConfigBundle {
            staff: Some(vec!["S1".into(), "S1".into()]),
            ..bundle(6)
        };
        assert!(b.apply_to(&base).unwrap_err().to_string().contains("twice"));
        let b = ConfigBundle {
            notices: Some(vec![" ".into()]),
            ..bundle(7)
        };
        assert!(matches!(
            b.apply_to(&base).unwrap_err(),
            BundleError::Notices { .. }
        ));
    }

    #[test]
    fn a_catalogue_that_leaves_a_queue_without_items_is_refused() {
        let base = setup();
        let b = ConfigBundle {
            catalog: Some(
                "[[item]]\ncode = 1\nname = \"缴存登记\"\ngroup = \"归集\"\nlimit = \"即时办理\"\n".into(),
            ),
            ..bundle(2)
        };
        let e = b.apply_to(&base).unwrap_err();
        assert!(e.to_string().contains("queue B"), "{e}");
    }

    #[test]
    fn merging_keeps_older_parts_the_newer_bundle_leaves_out() {
        let a = ConfigBundle {
            notices: Some(vec!["a".into()]),
            staff: Some(vec!["S1".into()]),
            ..bundle(1)
        };
        let b = ConfigBundle {
            notices: Some(vec!["b".into()]),
            ..bundle(2)
        };
        let m = a.merged_with(&b);
        assert_eq!(m.version, 2);
        assert_eq!(m.notices, Some(vec!["b".into()]));
        assert_eq!(m.staff, Some(vec!["S1".into()]));
    }
}
