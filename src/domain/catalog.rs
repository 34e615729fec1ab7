//! The one-window acceptance catalogue (住房公积金一窗受理标准化目录).
//!
//! Every counter accepts every item (一窗受理, 综合柜员制); the back office must
//! finish each accepted item within its time limit (限时办结). The catalogue is
//! configuration (`config/catalog.toml`), entered from the appendix of the
//! centre's 一窗受理管理办法 with each time limit in the regulation's own words;
//! [`TimeLimit::parse`] interprets those words.
//!
//! This module is pure: no I/O and no clock.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::domain::calendar::Calendar;

/// Business group (业务类别) of a catalogue item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, PartialOrd, Ord)]
pub enum Group {
    /// 归集: contributions and accounts (缴存).
    #[serde(rename = "归集")]
    Collection,
    /// 支取: withdrawals (提取).
    #[serde(rename = "支取")]
    Withdrawal,
    /// 贷款: housing loans.
    #[serde(rename = "贷款")]
    Loan,
}

impl Group {
    /// All groups, in catalogue order.
    pub const ALL: [Group; 3] = [Group::Collection, Group::Withdrawal, Group::Loan];

    /// The Chinese name used in the catalogue: 归集, 支取 or 贷款.
    pub fn chinese(&self) -> &'static str {
        match self {
            Group::Collection => "归集",
            Group::Withdrawal => "支取",
            Group::Loan => "贷款",
        }
    }

    /// The group named `s` (归集, 支取 or 贷款; surrounding spaces ignored).
    pub fn from_chinese(s: &str) -> Option<Group> {
        let s = s.trim();
        Group::ALL.into_iter().find(|g| g.chinese() == s)
    }
}

/// Time limit (办理时限) of a catalogue item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TimeLimit {
    /// 即时办理 / 即时受理: done on the spot.
    Immediate,
    /// 即时办理,不超过N个工作日: on the spot, and in any case within N working days.
    ImmediateWithin {
        /// N, at least 1.
        working_days: u32,
    },
    /// N个工作日: within N working days of acceptance.
    WorkingDays {
        /// N, at least 1.
        days: u32,
    },
    /// 每月D日前申请,即时办理: accepted only before day D of the month, then done on
    /// the spot.
    MonthlyCutoff {
        /// D, in 2..=31: accepted on days 1..D-1 of each month.
        before_day: u32,
    },
}

/// Maps full-width punctuation and digits to half-width, drops all whitespace
/// (including the ideographic space U+3000), treats 、 as a comma.
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF0C}' | '\u{3001}' => ',',
            '\u{FF08}' => '(',
            '\u{FF09}' => ')',
            '\u{FF10}'..='\u{FF19}' => char::from_u32(c as u32 - 0xFF10 + u32::from(b'0')).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Splits `text` into the limit proper and a trailing parenthesised note, with
/// either half-width or full-width parentheses: `"5个工作日(…)"` ->
/// `("5个工作日", Some("…"))`. Returns `None` if a parenthesis is unbalanced or
/// text follows the closing one.
fn split_note(text: &str) -> Option<(&str, Option<&str>)> {
    let text = text.trim();
    let is_open = |c: char| c == '(' || c == '\u{FF08}';
    let is_close = |c: char| c == ')' || c == '\u{FF09}';
    match text.find(is_open) {
        None => {
            if text.contains(is_close) {
                None
            } else {
                Some((text, None))
            }
        }
        Some(open) => {
            let main = &text[..open];
            let rest = &text[open..];
            let inner_start = rest.chars().next().map_or(0, char::len_utf8);
            let last = rest.chars().last()?;
            if !is_close(last) {
                return None;
            }
            let inner = &rest[inner_start..rest.len() - last.len_utf8()];
            if inner.contains(is_open) || inner.contains(is_close) {
                return None;
            }
            let inner = inner.trim();
            Some((main, (!inner.is_empty()).then_some(inner)))
        }
    }
}

fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `N个工作日` with N >= 1.
fn parse_working_days(s: &str) -> Option<u32> {
    parse_number(s.strip_suffix("个工作日")?).filter(|n| *n >= 1)
}

fn is_immediate(s: &str) -> bool {
    s == "即时办理" || s == "即时受理"
}

impl TimeLimit {
    /// Reads a time limit written as in the catalogue appendix:
    ///
    /// * `即时办理` or `即时受理` → [`TimeLimit::Immediate`]
    /// * `即时办理,不超过3个工作日` → [`TimeLimit::ImmediateWithin`]
    /// * `10个工作日` → [`TimeLimit::WorkingDays`]
    /// * `每月20日前申请,即时办理` → [`TimeLimit::MonthlyCutoff`]
    ///
    /// Spaces are ignored, commas may be half-width `,`, full-width `，` or `、`
    /// (or left out), digits and parentheses may be full-width, and a trailing
    /// `。` is ignored. A parenthesised note after the limit, as in
    /// `5个工作日(公积金贷款实行轮候发放期间除外)`, is ignored here (the catalogue
    /// keeps it in [`Item::note`]). Returns `None` for anything else, including
    /// 0 working days and a cut-off day outside 2..=31.
    pub fn parse(text: &str) -> Option<TimeLimit> {
        let (main, _note) = split_note(text)?;
        let s = normalize(main);
        let s = s.trim_end_matches(['。', '.']);

        if is_immediate(s) {
            return Some(TimeLimit::Immediate);
        }
        if let Some(rest) = s.strip_prefix("即时办理").or_else(|| s.strip_prefix("即时受理")) {
            let rest = rest.strip_prefix(',').unwrap_or(rest);
            let n = parse_working_days(rest.strip_prefix("不超过")?)?;
            return Some(TimeLimit::ImmediateWithin { working_days: n });
        }
        if let Some(rest) = s.strip_prefix("每月") {
            let (day, tail) = rest.split_once("日前申请")?;
            let day = parse_number(day).filter(|d| (2..=31).contains(d))?;
            let tail = tail.strip_prefix(',').unwrap_or(tail);
            return is_immediate(tail).then_some(TimeLimit::MonthlyCutoff { before_day: day });
        }
        parse_working_days(s).map(|days| TimeLimit::WorkingDays { days })
    }

    /// The last day the back office may take for an item accepted on `accepted`
    /// (限时办结): `accepted` itself for [`TimeLimit::Immediate`] and
    /// [`TimeLimit::MonthlyCutoff`]; the N-th working day after `accepted` for
    /// [`TimeLimit::ImmediateWithin`] and [`TimeLimit::WorkingDays`].
    pub fn due_date(&self, accepted: NaiveDate, cal: &Calendar) -> NaiveDate {
        match *self {
            TimeLimit::Immediate | TimeLimit::MonthlyCutoff { .. } => accepted,
            TimeLimit::ImmediateWithin { working_days: n } | TimeLimit::WorkingDays { days: n } => {
                cal.add_working_days(accepted, n)
            }
        }
    }

    /// Whether the item may be applied for on `d`: for
    /// [`TimeLimit::MonthlyCutoff`] only when the day of the month is before
    /// `before_day` (每月D日前申请); always otherwise.
    pub fn accepts_on(&self, d: NaiveDate) -> bool {
        match *self {
            TimeLimit::MonthlyCutoff { before_day } => d.day() < before_day,
            _ => true,
        }
    }
}

/// One catalogue item (一窗受理事项).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Item {
    /// Item number in the catalogue (序号), unique.
    pub code: u32,
    /// Item name (事项名称).
    pub name: String,
    /// Business group (业务类别).
    pub group: Group,
    /// Time limit (办理时限), interpreted.
    pub limit: TimeLimit,
    /// Time limit exactly as written in the catalogue.
    pub limit_text: String,
    /// The parenthesised note of the time limit, without the parentheses, e.g.
    /// `公积金贷款实行轮候发放期间除外` for item 31.
    pub note: Option<String>,
}

/// The catalogue: items by code.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    items: BTreeMap<u32, Item>,
}

/// Why a catalogue file was rejected. Messages name the item code.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Not valid TOML, an unknown key, a missing key or a value of the wrong
    /// type (the message carries line and column).
    #[error("catalog file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// The file has no `[[item]]`.
    #[error("catalog has no items")]
    Empty,
    /// Codes start at 1.
    #[error("item `{name}`: code 0 is not allowed (codes start at 1)")]
    ZeroCode {
        /// Name of the item with code 0.
        name: String,
    },
    /// Two items share a code.
    #[error("item {code}: code used twice (`{first}` and `{second}`)")]
    DuplicateCode {
        /// The shared code.
        code: u32,
        /// Name of the first item with that code.
        first: String,
        /// Name of the second.
        second: String,
    },
    /// `name` is empty or blank.
    #[error("item {code}: empty name")]
    EmptyName {
        /// Item code.
        code: u32,
    },
    /// `group` is not 归集, 支取 or 贷款.
    #[error("item {code}: unknown group `{group}` (expected 归集, 支取 or 贷款)")]
    UnknownGroup {
        /// Item code.
        code: u32,
        /// The text found.
        group: String,
    },
    /// [`TimeLimit::parse`] does not understand `limit`.
    #[error("item {code}: unknown time limit `{text}`")]
    UnknownTimeLimit {
        /// Item code.
        code: u32,
        /// The text found.
        text: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    item: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    code: u32,
    name: String,
    group: String,
    limit: String,
}

impl Catalog {
    /// Parses a catalogue file (see `config/catalog.toml`): a list of
    /// `[[item]]` tables with `code`, `name`, `group` (归集 / 支取 / 贷款) and
    /// `limit` (the regulation's wording, see [`TimeLimit::parse`]). Unknown keys,
    /// code 0, duplicate codes, blank names, unknown groups and unreadable time
    /// limits are errors.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogError> {
        let raw: RawCatalog = toml::from_str(text)?;
        if raw.item.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut items: BTreeMap<u32, Item> = BTreeMap::new();
        for r in raw.item {
            let code = r.code;
            let name = r.name.trim().to_owned();
            if code == 0 {
                return Err(CatalogError::ZeroCode { name });
            }
            if name.is_empty() {
                return Err(CatalogError::EmptyName { code });
            }
            if let Some(prev) = items.get(&code) {
                return Err(CatalogError::DuplicateCode {
                    code,
                    first: prev.name.clone(),
                    second: name,
                });
            }
            let group = Group::from_chinese(&r.group).ok_or_else(|| CatalogError::UnknownGroup {
                code,
                group: r.group.clone(),
            })?;
            let limit_text = r.limit.trim().to_owned();
            let unknown = || CatalogError::UnknownTimeLimit {
                code,
                text: limit_text.clone(),
            };
            let limit = TimeLimit::parse(&limit_text).ok_or_else(unknown)?;
            let note = split_note(&limit_text).ok_or_else(unknown)?.1.map(str::to_owned);
            items.insert(
                code,
                Item {
                    code,
                    name,
                    group,
                    limit,
                    limit_text,
                    note,
                },
            );
        }
        Ok(Catalog { items })
    }

    /// The item with this code.
    pub fn get(&self, code: u32) -> Option<&Item> {
        self.items.get(&code)
    }

    /// All items, in code order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the catalogue has no items (only for [`Catalog::default`]; a
    /// parsed catalogue is never empty).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = include_str!("../../config/catalog.toml");
    const CN_2026: &str = include_str!("../../config/calendar/cn-2026.toml");

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn catalog() -> Catalog {
        Catalog::from_toml_str(CATALOG).expect("shipped catalog parses")
    }

    fn cal() -> Calendar {
        Calendar::from_toml_str(CN_2026).unwrap()
    }

    fn err(text: &str) -> String {
        Catalog::from_toml_str(text)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn shipped_catalog_has_34_items_in_three_groups() {
        let c = catalog();
        assert_eq!(c.len(), 34);
        assert!(!c.is_empty());
        let codes: Vec<u32> = c.items().map(|i| i.code).collect();
        assert_eq!(codes, (1..=34).collect::<Vec<_>>());
        let count = |g| c.items().filter(|i| i.group == g).count();
        assert_eq!(count(Group::Collection), 17);
        assert_eq!(count(Group::Withdrawal), 12);
        assert_eq!(count(Group::Loan), 5);
        // Groups are contiguous: 1–17, 18–29, 30–34.
        for i in c.items() {
            let expected = match i.code {
                1..=17 => Group::Collection,
                18..=29 => Group::Withdrawal,
                _ => Group::Loan,
            };
            assert_eq!(i.group, expected, "item {}", i.code);
        }
    }

    #[test]
    fn shipped_catalog_items_match_the_appendix() {
        let c = catalog();
        let item = |code| c.get(code).unwrap();
        assert_eq!(item(1).name, "单位缴存登记");
        assert_eq!(item(1).limit, TimeLimit::Immediate);
        assert_eq!(item(5).name, "单位缓缴和解除缓缴");
        assert_eq!(item(5).limit_text, "即时受理");
        assert_eq!(item(5).limit, TimeLimit::Immediate);
        assert_eq!(item(15).name, "个人账户冻结、解冻及扣划");
        assert_eq!(item(18).name, "购买商品自住住房");
        assert_eq!(item(18).limit, TimeLimit::ImmediateWithin { working_days: 3 });
        assert_eq!(item(18).limit_text, "即时办理,不超过3个工作日");
        assert_eq!(item(26).name, "完全丧失劳动能力,并与单位终止劳动关系");
        assert_eq!(item(30).name, "住房贷款受理");
        assert_eq!(item(30).limit, TimeLimit::WorkingDays { days: 10 });
        assert_eq!(item(31).limit, TimeLimit::WorkingDays { days: 5 });
        assert_eq!(item(31).limit_text, "5个工作日(公积金贷款实行轮候发放期间除外)");
        assert_eq!(item(31).note.as_deref(), Some("公积金贷款实行轮候发放期间除外"));
        assert_eq!(item(32).limit, TimeLimit::MonthlyCutoff { before_day: 20 });
        assert_eq!(item(33).limit, TimeLimit::MonthlyCutoff { before_day: 15 });
        assert_eq!(item(34).name, "住房贷款提前结清");
        assert_eq!(item(34).limit, TimeLimit::MonthlyCutoff { before_day: 15 });
        assert!(c.get(0).is_none() && c.get(35).is_none());
        // Only item 31 carries a note; every wording is one of the appendix's seven.
        let wordings = [
            "即时办理",
            "即时受理",
            "即时办理,不超过3个工作日",
            "10个工作日",
            "5个工作日(公积金贷款实行轮候发放期间除外)",
            "每月20日前申请,即时办理",
            "每月15日前申请,即时办理",
        ];
        for i in c.items() {
            assert!(wordings.contains(&i.limit_text.as_str()), "item {}", i.code);
            assert_eq!(i.note.is_some(), i.code == 31, "item {}", i.code);
        }
    }

    #[test]
    fn due_dates_over_holidays_2026() {
        let c = catalog();
        let cal = cal();
        let due = |code, d| c.get(code).unwrap().limit.due_date(d, &cal);
        // Immediate items are due the day they are accepted.
        assert_eq!(due(1, ymd(2026, 9, 30)), ymd(2026, 9, 30));
        assert_eq!(due(32, ymd(2026, 9, 30)), ymd(2026, 9, 30));
        // Item 18, 3 working days from Wed 30 Sep: 8, 9, 10 Oct (Sat, 调休).
        assert_eq!(due(18, ymd(2026, 9, 30)), ymd(2026, 10, 10));
        // Item 30, 10 working days from Wed 30 Sep: 8, 9, 10, 12–16, 19, 20 Oct.
        assert_eq!(due(30, ymd(2026, 9, 30)), ymd(2026, 10, 20));
        // Item 31, 5 working days from Thu 12 Feb: 13, 14 (Sat, 调休), 24, 25, 26 Feb.
        assert_eq!(due(31, ymd(2026, 2, 12)), ymd(2026, 2, 26));
        // Item 18 accepted Thu 30 Apr: 6, 7, 8 May (劳动节 1–5 May).
        assert_eq!(due(18, ymd(2026, 4, 30)), ymd(2026, 5, 8));
        // Without holidays the same item would be due earlier.
        assert_eq!(
            c.get(18)
                .unwrap()
                .limit
                .due_date(ymd(2026, 9, 30), &Calendar::weekends_only()),
            ymd(2026, 10, 5)
        );
    }

    #[test]
    fn monthly_cutoff_acceptance() {
        let c = catalog();
        let accepts = |code, d| c.get(code).unwrap().limit.accepts_on(d);
        assert!(accepts(32, ymd(2026, 3, 1)));
        assert!(accepts(32, ymd(2026, 3, 19)));
        assert!(!accepts(32, ymd(2026, 3, 20)));
        assert!(!accepts(32, ymd(2026, 3, 31)));
        assert!(accepts(33, ymd(2026, 3, 14)));
        assert!(!accepts(33, ymd(2026, 3, 15)));
        assert!(!accepts(34, ymd(2026, 2, 28)));
        assert!(accepts(1, ymd(2026, 3, 31)));
        assert!(accepts(30, ymd(2026, 3, 31)));
    }

    #[test]
    fn time_limit_parse_variants() {
        use TimeLimit::*;
        assert_eq!(TimeLimit::parse("即时办理"), Some(Immediate));
        assert_eq!(TimeLimit::parse(" 即时受理 "), Some(Immediate));
        assert_eq!(TimeLimit::parse("即时办理。"), Some(Immediate));
        for s in [
            "即时办理,不超过3个工作日",
            "即时办理，不超过3个工作日",
            "即时办理、不超过3个工作日",
            "即时办理, 不超过 3 个工作日",
            "即时办理\u{3000}，不超过３个工作日",
            "即时办理不超过3个工作日",
        ] {
            assert_eq!(
                TimeLimit::parse(s),
                Some(ImmediateWithin { working_days: 3 }),
                "{s}"
            );
        }
        assert_eq!(TimeLimit::parse("10个工作日"), Some(WorkingDays { days: 10 }));
        assert_eq!(TimeLimit::parse("１０个工作日"), Some(WorkingDays { days: 10 }));
        for s in [
            "5个工作日(公积金贷款实行轮候发放期间除外)",
            "5个工作日（公积金贷款实行轮候发放期间除外）",
            "5个工作日 (公积金贷款实行轮候发放期间除外)",
        ] {
            assert_eq!(TimeLimit::parse(s), Some(WorkingDays { days: 5 }), "{s}");
        }
        for s in [
            "每月20日前申请,即时办理",
            "每月20日前申请，即时办理",
            "每月 20 日前申请， 即时办理",
            "每月20日前申请即时办理",
        ] {
            assert_eq!(TimeLimit::parse(s), Some(MonthlyCutoff { before_day: 20 }), "{s}");
        }
        assert_eq!(
            TimeLimit::parse("每月15日前申请,即时办理"),
            Some(MonthlyCutoff { before_day: 15 })
        );
    }

    #[test]
    fn time_limit_parse_rejects() {
        for s in [
            "",
            "尽快",
            "即时",
            "0个工作日",
            "个工作日",
            "-3个工作日",
            "三个工作日",
            "10个自然日",
            "即时办理,不超过0个工作日",
            "即时办理,3个工作日",
            "每月0日前申请,即时办理",
            "每月1日前申请,即时办理",
            "每月32日前申请,即时办理",
            "每月20日前申请",
            "每月20日前申请,10个工作日",
            "5个工作日(未闭合",
            "5个工作日)",
            "5个工作日(注)之后",
            "(注)",
        ] {
            assert_eq!(TimeLimit::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn group_names() {
        for g in Group::ALL {
            assert_eq!(Group::from_chinese(g.chinese()), Some(g));
        }
        assert_eq!(Group::from_chinese(" 贷款 "), Some(Group::Loan));
        assert_eq!(Group::from_chinese("缴存"), None);
        assert_eq!(Group::Collection.chinese(), "归集");
        assert!(Group::Collection < Group::Withdrawal && Group::Withdrawal < Group::Loan);
        #[derive(serde::Deserialize)]
        struct G {
            g: Group,
        }
        let parsed: G = toml::from_str("g = \"支取\"").unwrap();
        assert_eq!(parsed.g, Group::Withdrawal);
    }

    #[test]
    fn catalog_errors() {
        let item = |code: &str, name: &str, group: &str, limit: &str| {
            format!("[[item]]\ncode = {code}\nname = \"{name}\"\ngroup = \"{group}\"\nlimit = \"{limit}\"\n")
        };

        let e = err(&item("31", "住房贷款发放", "贷款", "五个工作日"));
        assert_eq!(e, "item 31: unknown time limit `五个工作日`");

        let two = item("7", "甲", "归集", "即时办理") + &item("7", "乙", "归集", "即时办理");
        let e = err(&two);
        assert!(
            e.contains("item 7") && e.contains("甲") && e.contains("乙"),
            "{e}"
        );

        let e = err(&item("3", "甲", "提取", "即时办理"));
        assert!(e.contains("item 3") && e.contains("提取"), "{e}");

        let e = err(&item("4", "  ", "归集", "即时办理"));
        assert_eq!(e, "item 4: empty name");

        let e = err(&item("0", "甲", "归集", "即时办理"));
        assert!(e.contains("code 0") && e.contains("甲"), "{e}");

        let e = err(&(item("1", "甲", "归集", "即时办理") + "extra = 1\n"));
        assert!(e.contains("extra"), "{e}");

        let e = err("[[item]]\ncode = 1\nname = \"甲\"\ngroup = \"归集\"\n");
        assert!(e.contains("limit"), "{e}");

        let e = err("[[item]]\ncode = 1\nname = \"甲\n");
        assert!(e.contains("line 3"), "{e}");

        let e = err("[[item]]\ncode = -1\nname = \"甲\"\ngroup = \"归集\"\nlimit = \"即时办理\"\n");
        assert!(e.contains("code") || e.contains("-1"), "{e}");

        let e = err("item = []\n");
        assert_eq!(e, "catalog has no items");
        let e = err("");
        assert!(e.contains("item"), "{e}");

        assert!(matches!(
            Catalog::from_toml_str(&item("9", "甲", "归集", "马上")),
            Err(CatalogError::UnknownTimeLimit { code: 9, .. })
        ));
    }

    #[test]
    fn default_catalog_is_empty() {
        let c = Catalog::default();
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        assert_eq!(c.items().count(), 0);
    }
}
