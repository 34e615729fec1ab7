//! Working-day arithmetic (工作日计算).
//!
//! Time limits in the regulations (限时办结, complaint answers, appointment replies)
//! are counted in working days (工作日): Monday–Friday that is not a public
//! holiday day off (放假), plus the weekend days that are worked in exchange
//! (调休上班). The State Council publishes each year's arrangement in the autumn of
//! the year before, so the calendar is configuration: one TOML file per year under
//! `config/calendar/`, parsed by [`Calendar::from_toml_str`] and combined with
//! [`Calendar::merge`].
//!
//! This module is pure: no I/O and no clock. For a year that no file covers, only
//! weekends are days off; callers can check [`Calendar::covers_year`] to warn that
//! the calendar needs updating.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Included};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// The longest accepted `off` range, in days (inclusive of both ends). The longest
/// real holiday (春节 or 国庆节) is 8–9 days; anything longer is almost certainly a
/// typo in the file.
pub const MAX_OFF_SPAN_DAYS: i64 = 14;

/// A working-day calendar (工作日历): public-holiday days off, adjusted working
/// days (调休), and the years for which that information is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Days off for public holidays (法定节假日放假), including those that fall on
    /// a weekend.
    off: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休上班).
    work: BTreeSet<NaiveDate>,
    /// Years for which a holiday arrangement has been loaded.
    years: BTreeSet<i32>,
}

/// Why a calendar file was rejected. Every message names the holiday, the key
/// and/or the date at fault.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The text is not valid TOML, has an unknown key, or a value of the wrong
    /// type (the message carries line and column).
    #[error("calendar file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// `year` is not a plausible calendar year.
    #[error("`year` = {year} is out of range (expected 1900–9999)")]
    YearOutOfRange {
        /// The value found.
        year: i32,
    },
    /// A `[[holiday]]` has an empty `name`.
    #[error("holiday #{index} (counting from 1) has an empty `name`")]
    EmptyName {
        /// Position of the holiday in the file, from 1.
        index: usize,
    },
    /// A value in `off` or `work` is not a `YYYY-MM-DD` date.
    #[error("holiday `{holiday}`: `{key}` value `{value}` is not a date in YYYY-MM-DD form")]
    BadDate {
        /// Holiday name.
        holiday: String,
        /// `off` or `work`.
        key: &'static str,
        /// The offending text.
        value: String,
    },
    /// `off` must hold the first and last day off (or a single day).
    #[error("holiday `{holiday}`: `off` must be [first, last] (one or two dates), found {count} dates")]
    OffShape {
        /// Holiday name.
        holiday: String,
        /// Number of dates found.
        count: usize,
    },
    /// The first day off is after the last.
    #[error("holiday `{holiday}`: `off` range starts on {first}, after its last day {last}")]
    ReversedRange {
        /// Holiday name.
        holiday: String,
        /// First day as written.
        first: NaiveDate,
        /// Last day as written.
        last: NaiveDate,
    },
    /// The `off` range is longer than [`MAX_OFF_SPAN_DAYS`].
    #[error(
        "holiday `{holiday}`: `off` range {first} to {last} spans {days} days, more than {max}",
        max = MAX_OFF_SPAN_DAYS
    )]
    RangeTooLong {
        /// Holiday name.
        holiday: String,
        /// First day off.
        first: NaiveDate,
        /// Last day off.
        last: NaiveDate,
        /// Length of the range, both ends included.
        days: i64,
    },
    /// A date is not in the file's `year`.
    #[error("holiday `{holiday}`: `{key}` date {date} is outside the file's year {year}")]
    OutsideYear {
        /// Holiday name.
        holiday: String,
        /// `off` or `work`.
        key: &'static str,
        /// The offending date.
        date: NaiveDate,
        /// The file's `year`.
        year: i32,
    },
    /// An adjusted working day (调休) that is not a Saturday or Sunday: a weekday
    /// is a working day anyway, so this is a typo.
    #[error(
        "holiday `{holiday}`: `work` date {date} is a {weekday}, but an adjusted working day (调休) must be a Saturday or Sunday"
    )]
    WorkNotWeekend {
        /// Holiday name.
        holiday: String,
        /// The offending date.
        date: NaiveDate,
        /// Its day of the week.
        weekday: Weekday,
    },
    /// The same date is both a day off and an adjusted working day.
    #[error("date {date} is both a day off (holiday `{off_holiday}`) and an adjusted working day (holiday `{work_holiday}`)")]
    OffAndWork {
        /// The conflicting date.
        date: NaiveDate,
        /// Holiday whose `off` range contains it.
        off_holiday: String,
        /// Holiday whose `work` list contains it.
        work_holiday: String,
    },
}

/// One year file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    /// Citation of the notice; informative only.
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

/// One `[[holiday]]` table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    off: Vec<RawDate>,
    #[serde(default)]
    work: Vec<RawDate>,
}

/// A date as written: a quoted `"YYYY-MM-DD"` string, or a bare TOML date
/// (`2026-01-01`), which editors of the file may well write.
#[derive(Deserialize)]
#[serde(untagged, expecting = "expected a date written \"YYYY-MM-DD\"")]
enum RawDate {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawDate {
    fn text(&self) -> String {
        match self {
            RawDate::Text(s) => s.clone(),
            RawDate::Toml(d) => d.to_string(),
        }
    }
}

fn is_weekday(d: NaiveDate) -> bool {
    d.weekday().num_days_from_monday() < 5
}

fn next_day(d: NaiveDate) -> NaiveDate {
    d.succ_opt()
        .expect("date arithmetic went past chrono's last representable date")
}

fn parse_date(holiday: &str, key: &'static str, value: &RawDate) -> Result<NaiveDate, CalendarError> {
    let value = value.text();
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| CalendarError::BadDate {
        holiday: holiday.to_owned(),
        key,
        value,
    })
}

fn check_year(holiday: &str, key: &'static str, date: NaiveDate, year: i32) -> Result<(), CalendarError> {
    if date.year() == year {
        Ok(())
    } else {
        Err(CalendarError::OutsideYear {
            holiday: holiday.to_owned(),
            key,
            date,
            year,
        })
    }
}

/// Number of Monday–Friday days in `(from, to]`; 0 when `to <= from`.
fn weekdays_between(from: NaiveDate, to: NaiveDate) -> i64 {
    let total = (to - from).num_days();
    if total <= 0 {
        return 0;
    }
    let full_weeks = total / 7;
    let rest = total % 7;
    let start = i64::from(from.weekday().num_days_from_monday());
    let partial = (1..=rest).filter(|k| (start + k) % 7 < 5).count() as i64;
    full_weeks * 5 + partial
}

impl Calendar {
    /// A calendar with no public holidays: Monday–Friday are working days,
    /// Saturday and Sunday are not. Covers no year.
    pub fn weekends_only() -> Self {
        Self::default()
    }

    /// Parses one year file (see `config/calendar/cn-2026.toml`):
    ///
    /// ```toml
    /// year = 2026
    /// source = "State Council General Office notice, 2025-11-04"
    /// [[holiday]]
    /// name = "元旦"
    /// off = ["2026-01-01", "2026-01-03"]   # first and last day off, inclusive
    /// work = ["2026-01-04"]                 # adjusted working days (调休)
    /// ```
    ///
    /// Rejects unknown keys, malformed dates, an `off` range whose first day is
    /// after its last or that spans more than [`MAX_OFF_SPAN_DAYS`] days, dates
    /// outside `year`, `work` dates that are not a Saturday or Sunday, and a date
    /// that is both off and worked. `off` may also hold a single date. Dates may be
    /// quoted strings or bare TOML dates.
    pub fn from_toml_str(text: &str) -> Result<Self, CalendarError> {
        let raw: RawYear = toml::from_str(text)?;
        let year = raw.year;
        if !(1900..=9999).contains(&year) {
            return Err(CalendarError::YearOutOfRange { year });
        }

        // date -> name of the holiday that declared it, for conflict messages.
        let mut off: BTreeMap<NaiveDate, String> = BTreeMap::new();
        let mut work: BTreeMap<NaiveDate, String> = BTreeMap::new();

        for (i, h) in raw.holiday.iter().enumerate() {
            let name = h.name.trim();
            if name.is_empty() {
                return Err(CalendarError::EmptyName { index: i + 1 });
            }

            let (first, last) = match h.off.as_slice() {
                [one] => {
                    let d = parse_date(name, "off", one)?;
                    (d, d)
                }
                [a, b] => (parse_date(name, "off", a)?, parse_date(name, "off", b)?),
                other => {
                    return Err(CalendarError::OffShape {
                        holiday: name.to_owned(),
                        count: other.len(),
                    })
                }
            };
            check_year(name, "off", first, year)?;
            check_year(name, "off", last, year)?;
            if first > last {
                return Err(CalendarError::ReversedRange {
                    holiday: name.to_owned(),
                    first,
                    last,
                });
            }
            let days = (last - first).num_days() + 1;
            if days > MAX_OFF_SPAN_DAYS {
                return Err(CalendarError::RangeTooLong {
                    holiday: name.to_owned(),
                    first,
                    last,
                    days,
                });
            }
            let mut d = first;
            while d <= last {
                off.entry(d).or_insert_with(|| name.to_owned());
                d = next_day(d);
            }

            for value in &h.work {
                let date = parse_date(name, "work", value)?;
                check_year(name, "work", date, year)?;
                if is_weekday(date) {
                    return Err(CalendarError::WorkNotWeekend {
                        holiday: name.to_owned(),
                        date,
                        weekday: date.weekday(),
                    });
                }
                work.entry(date).or_insert_with(|| name.to_owned());
            }
        }

        if let Some((date, work_holiday)) = work.iter().find(|(d, _)| off.contains_key(d)) {
            return Err(CalendarError::OffAndWork {
                date: *date,
                off_holiday: off[date].clone(),
                work_holiday: work_holiday.clone(),
            });
        }

        Ok(Self {
            off: off.into_keys().collect(),
            work: work.into_keys().collect(),
            years: BTreeSet::from([year]),
        })
    }

    /// Adds another calendar (typically another year's file) to this one. If the
    /// same date ends up both off and worked, it is a working day.
    pub fn merge(&mut self, other: Calendar) {
        self.off.extend(other.off);
        self.work.extend(other.work);
        self.years.extend(other.years);
    }

    /// Whether a holiday arrangement for `year` has been loaded. For a year not
    /// covered, only weekends count as days off.
    pub fn covers_year(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// Whether `d` is a public holiday day off (法定节假日), as listed in the calendar.
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.off.contains(&d)
    }

    /// Whether `d` is a working day (工作日): Monday–Friday that is not a day off,
    /// or an adjusted working weekend day (调休上班).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.work.contains(&d) || (is_weekday(d) && !self.off.contains(&d))
    }

    /// The `n`-th working day strictly after `from` ("N个工作日内" counted from the
    /// day after acceptance). `n = 0` returns `from` itself, working day or not.
    ///
    /// # Panics
    ///
    /// Only if the result would be past chrono's last representable date.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d = next_day(d);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// `d` if it is a working day, otherwise the first working day after it.
    ///
    /// # Panics
    ///
    /// Only if the result would be past chrono's last representable date.
    pub fn next_working_day_on_or_after(&self, d: NaiveDate) -> NaiveDate {
        let mut d = d;
        while !self.is_working_day(d) {
            d = next_day(d);
        }
        d
    }

    /// Number of working days in `(from, to]`: excludes `from`, includes `to`;
    /// 0 when `to <= from`. The inverse of [`Calendar::add_working_days`]:
    /// `working_days_between(d, add_working_days(d, n)) == n`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        let range = (Excluded(from), Included(to));
        let mut count = weekdays_between(from, to);
        count -= self
            .off
            .range(range)
            .filter(|d| is_weekday(**d) && !self.work.contains(*d))
            .count() as i64;
        count += self.work.range(range).filter(|d| !is_weekday(**d)).count() as i64;
        u32::try_from(count.max(0)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CN_2026: &str = include_str!("../../config/calendar/cn-2026.toml");

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cal() -> Calendar {
        Calendar::from_toml_str(CN_2026).expect("shipped 2026 calendar parses")
    }

    fn err(text: &str) -> String {
        Calendar::from_toml_str(text)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn shipped_2026_file_parses_and_covers_2026_only() {
        let c = cal();
        assert!(c.covers_year(2026));
        assert!(!c.covers_year(2025));
        assert!(!c.covers_year(2027));
        // 7 holidays: 3 + 9 + 3 + 5 + 3 + 3 + 7 days off, 6 adjusted working days.
        assert_eq!(c.off.len(), 33);
        assert_eq!(c.work.len(), 6);
    }

    #[test]
    fn weekends_only_calendar() {
        let c = Calendar::weekends_only();
        assert!(!c.covers_year(2026));
        assert!(c.is_working_day(ymd(2026, 1, 1))); // Thursday, no holidays known
        assert!(!c.is_working_day(ymd(2026, 1, 3))); // Saturday
        assert!(!c.is_working_day(ymd(2026, 1, 4))); // Sunday
        assert_eq!(c.add_working_days(ymd(2026, 1, 2), 1), ymd(2026, 1, 5));
        assert_eq!(c.working_days_between(ymd(2026, 1, 2), ymd(2026, 1, 9)), 5);
    }

    #[test]
    fn holiday_and_adjusted_days_2026() {
        let c = cal();
        // 元旦: Thu 1 Jan off, Sun 4 Jan worked.
        assert!(!c.is_working_day(ymd(2026, 1, 1)));
        assert!(!c.is_working_day(ymd(2026, 1, 2)));
        assert!(c.is_working_day(ymd(2026, 1, 4)));
        assert!(c.is_working_day(ymd(2026, 1, 5)));
        // 春节: Sat 14 Feb and Sat 28 Feb worked, 15–23 Feb off.
        assert!(c.is_working_day(ymd(2026, 2, 14)));
        assert!(!c.is_working_day(ymd(2026, 2, 16))); // Monday
        assert!(!c.is_working_day(ymd(2026, 2, 23))); // Monday, last day off
        assert!(c.is_working_day(ymd(2026, 2, 24)));
        assert!(c.is_working_day(ymd(2026, 2, 28)));
        // 清明节 Mon 6 Apr, 劳动节 Tue 5 May off; Sat 9 May worked.
        assert!(!c.is_working_day(ymd(2026, 4, 6)));
        assert!(!c.is_working_day(ymd(2026, 5, 5)));
        assert!(c.is_working_day(ymd(2026, 5, 9)));
        // 端午节 Fri 19 Jun, 中秋节 Fri 25 Sep off.
        assert!(!c.is_working_day(ymd(2026, 6, 19)));
        assert!(!c.is_working_day(ymd(2026, 9, 25)));
        // 国庆节: Sun 20 Sep and Sat 10 Oct worked, 1–7 Oct off.
        assert!(c.is_working_day(ymd(2026, 9, 20)));
        assert!(!c.is_working_day(ymd(2026, 10, 7)));
        assert!(c.is_working_day(ymd(2026, 10, 8)));
        assert!(c.is_working_day(ymd(2026, 10, 10)));
        // An ordinary weekend.
        assert!(!c.is_working_day(ymd(2026, 3, 7)));
        assert!(!c.is_working_day(ymd(2026, 3, 8)));
    }

    #[test]
    fn add_working_days_over_holidays() {
        let c = cal();
        // Wed 30 Sep + 3: 1–7 Oct off, Thu 8, Fri 9, Sat 10 (调休).
        assert_eq!(c.add_working_days(ymd(2026, 9, 30), 3), ymd(2026, 10, 10));
        assert_eq!(c.add_working_days(ymd(2026, 9, 30), 4), ymd(2026, 10, 12));
        // Fri 13 Feb + 1 = Sat 14 Feb (调休); + 2 jumps the Spring Festival.
        assert_eq!(c.add_working_days(ymd(2026, 2, 13), 1), ymd(2026, 2, 14));
        assert_eq!(c.add_working_days(ymd(2026, 2, 13), 2), ymd(2026, 2, 24));
        // Wed 31 Dec 2025 + 1 = Sun 4 Jan 2026 (调休).
        assert_eq!(c.add_working_days(ymd(2025, 12, 31), 1), ymd(2026, 1, 4));
        // Thu 30 Apr + 1 = Wed 6 May (劳动节 1–5 May).
        assert_eq!(c.add_working_days(ymd(2026, 4, 30), 1), ymd(2026, 5, 6));
        // Thu 18 Jun + 1 = Mon 22 Jun (端午节 19–21 Jun).
        assert_eq!(c.add_working_days(ymd(2026, 6, 18), 1), ymd(2026, 6, 22));
        // Thu 24 Sep + 1 = Mon 28 Sep (中秋节 25–27 Sep).
        assert_eq!(c.add_working_days(ymd(2026, 9, 24), 1), ymd(2026, 9, 28));
        // Starting on a day off counts from the next working day.
        assert_eq!(c.add_working_days(ymd(2026, 10, 3), 1), ymd(2026, 10, 8));
        // n = 0 is the start day itself, even on a holiday.
        assert_eq!(c.add_working_days(ymd(2026, 10, 3), 0), ymd(2026, 10, 3));
    }

    #[test]
    fn next_working_day_on_or_after() {
        let c = cal();
        assert_eq!(c.next_working_day_on_or_after(ymd(2026, 10, 1)), ymd(2026, 10, 8));
        assert_eq!(c.next_working_day_on_or_after(ymd(2026, 1, 4)), ymd(2026, 1, 4));
        assert_eq!(c.next_working_day_on_or_after(ymd(2026, 2, 15)), ymd(2026, 2, 24));
        assert_eq!(c.next_working_day_on_or_after(ymd(2026, 3, 7)), ymd(2026, 3, 9));
    }

    #[test]
    fn working_days_between_counts_half_open_interval() {
        let c = cal();
        assert_eq!(c.working_days_between(ymd(2026, 9, 30), ymd(2026, 10, 10)), 3);
        assert_eq!(c.working_days_between(ymd(2026, 9, 30), ymd(2026, 10, 9)), 2);
        assert_eq!(c.working_days_between(ymd(2026, 9, 30), ymd(2026, 9, 30)), 0);
        assert_eq!(c.working_days_between(ymd(2026, 10, 10), ymd(2026, 9, 30)), 0);
        assert_eq!(c.working_days_between(ymd(2026, 2, 13), ymd(2026, 2, 28)), 6);
        // Whole year 2026: 261 weekdays - 19 weekday days off + 6 调休 = 248.
        assert_eq!(c.working_days_between(ymd(2025, 12, 31), ymd(2026, 12, 31)), 248);
    }

    #[test]
    fn merge_combines_years() {
        let mut c = Calendar::weekends_only();
        c.merge(cal());
        let next = Calendar::from_toml_str(
            r#"
            year = 2027
            [[holiday]]
            name = "元旦"
            off = ["2027-01-01"]
            "#,
        )
        .unwrap();
        c.merge(next);
        assert!(c.covers_year(2026) && c.covers_year(2027));
        assert!(!c.is_working_day(ymd(2027, 1, 1))); // Friday
        assert!(!c.is_working_day(ymd(2026, 10, 1)));
        assert_eq!(c.add_working_days(ymd(2026, 12, 31), 1), ymd(2027, 1, 4));
    }

    #[test]
    fn bare_toml_dates_are_accepted() {
        let c = Calendar::from_toml_str(
            "year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [2026-01-01, 2026-01-03]\nwork = [2026-01-04]\n",
        )
        .unwrap();
        assert!(!c.is_working_day(ymd(2026, 1, 2)));
        assert!(c.is_working_day(ymd(2026, 1, 4)));
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [2026-01-01T08:00:00]\n");
        assert!(e.contains("元旦") && e.contains("2026-01-01T08:00:00"), "{e}");
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [20260101]\n");
        assert!(e.contains("line 4") && e.contains("YYYY-MM-DD"), "{e}");
    }

    #[test]
    fn minimal_file_without_holidays() {
        let c = Calendar::from_toml_str("year = 2030").unwrap();
        assert!(c.covers_year(2030));
        assert!(c.is_working_day(ymd(2030, 1, 1)));
    }

    #[test]
    fn rejects_toml_errors_and_unknown_keys() {
        let e = err("year = 2026\nsurce = \"x\"\n");
        assert!(e.contains("surce"), "{e}");
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\"]\nwrok = []\n");
        assert!(e.contains("wrok"), "{e}");
        let e = err("year = 2026\n[[holiday]\n");
        assert!(e.contains("line 2"), "{e}");
        let e = err("[[holiday]]\nname = \"x\"\noff = [\"2026-01-01\"]\n");
        assert!(e.contains("year"), "{e}");
    }

    #[test]
    fn rejects_bad_dates_and_ranges() {
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-13-03\"]\n");
        assert!(
            e.contains("元旦") && e.contains("`off`") && e.contains("2026-13-03"),
            "{e}"
        );

        let e = err("year = 2026\n[[holiday]]\nname = \"春节\"\noff = [\"2026-02-23\", \"2026-02-15\"]\n");
        assert!(e.contains("春节") && e.contains("2026-02-23"), "{e}");
        assert!(matches!(
            Calendar::from_toml_str(
                "year = 2026\n[[holiday]]\nname = \"春节\"\noff = [\"2026-02-23\", \"2026-02-15\"]\n"
            ),
            Err(CalendarError::ReversedRange { .. })
        ));

        let e = err("year = 2026\n[[holiday]]\nname = \"国庆节\"\noff = [\"2026-10-01\", \"2026-10-15\"]\n");
        assert!(e.contains("国庆节") && e.contains("15 days"), "{e}");
        // Exactly 14 days is accepted.
        Calendar::from_toml_str(
            "year = 2026\n[[holiday]]\nname = \"x\"\noff = [\"2026-10-01\", \"2026-10-14\"]\n",
        )
        .unwrap();

        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2025-12-31\", \"2026-01-03\"]\n");
        assert!(
            e.contains("元旦") && e.contains("2025-12-31") && e.contains("2026"),
            "{e}"
        );

        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = []\n");
        assert!(e.contains("元旦") && e.contains("found 0"), "{e}");
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-01-02\", \"2026-01-03\"]\n");
        assert!(e.contains("found 3"), "{e}");

        let e = err("year = 2026\n[[holiday]]\nname = \"  \"\noff = [\"2026-01-01\"]\n");
        assert!(e.contains("#1"), "{e}");

        let e = err("year = 26\n");
        assert!(e.contains("26"), "{e}");
    }

    #[test]
    fn rejects_bad_work_days() {
        // Mon 5 Jan is a weekday: not an adjusted working day.
        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-01-03\"]\nwork = [\"2026-01-05\"]\n");
        assert!(
            e.contains("元旦") && e.contains("2026-01-05") && e.contains("Mon"),
            "{e}"
        );

        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-01-03\"]\nwork = [\"2027-01-02\"]\n");
        assert!(e.contains("`work`") && e.contains("2027-01-02"), "{e}");

        let e = err("year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-01-03\"]\nwork = [\"Jan 4\"]\n");
        assert!(e.contains("`work`") && e.contains("Jan 4"), "{e}");

        // Saturday 3 Jan both off and worked, declared by two holidays.
        let e = err(
            "year = 2026\n[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\", \"2026-01-03\"]\n\
             [[holiday]]\nname = \"测试\"\noff = [\"2026-03-02\"]\nwork = [\"2026-01-03\"]\n",
        );
        assert!(
            e.contains("2026-01-03") && e.contains("元旦") && e.contains("测试"),
            "{e}"
        );
    }

    /// Naive reference implementation of `working_days_between`.
    fn count_naive(c: &Calendar, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| c.is_working_day(*d))
            .count() as u32
    }

    proptest! {
        #[test]
        fn add_then_count_round_trips(offset in 0i64..900, n in 0u32..300) {
            let c = cal();
            let d = ymd(2025, 6, 1) + chrono::Duration::days(offset);
            let end = c.add_working_days(d, n);
            if n >= 1 {
                prop_assert!(c.is_working_day(end));
                prop_assert!(end > d);
                // It is the n-th, not a later one.
                prop_assert_eq!(c.working_days_between(d, end.pred_opt().unwrap()), n - 1);
            } else {
                prop_assert_eq!(end, d);
            }
            prop_assert_eq!(c.working_days_between(d, end), n);
        }

        #[test]
        fn fast_count_matches_naive(a in 0i64..900, len in 0i64..400) {
            let c = cal();
            let from = ymd(2025, 6, 1) + chrono::Duration::days(a);
            let to = from + chrono::Duration::days(len);
            prop_assert_eq!(c.working_days_between(from, to), count_naive(&c, from, to));
        }

        #[test]
        fn next_working_day_is_working_and_first(offset in 0i64..900) {
            let c = cal();
            let d = ymd(2025, 6, 1) + chrono::Duration::days(offset);
            let w = c.next_working_day_on_or_after(d);
            prop_assert!(w >= d);
            prop_assert!(c.is_working_day(w));
            prop_assert!(d.iter_days().take_while(|x| *x < w).all(|x| !c.is_working_day(x)));
        }
    }
}
