//! The scoring rubric (SPEC §7) from a TOML file an analyst edits; the built-in one is
//! `pipelines/rubric.toml`. Its numbers become the one-row `rubric` table the models join, beside
//! the labels of the grades and criticism categories ([`crate::vocab`]), so no model spells them.

use super::ModelError;
use crate::vocab::{Category, Grade};
use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::Deserialize;
use std::sync::Arc;

pub const DEFAULT: &str = include_str!("../../pipelines/rubric.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    pub account: AccountRules,
    pub unit: UnitRules,
    pub grades: Grades,
    pub rules: Rules,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRules {
    pub silent_week_points: f64,
    pub silent_weeks_cap: f64,
    pub overdue_message_points: f64,
    pub overdue_messages_cap: f64,
    pub typo_points: f64,
    pub uncorrected_finding_points: f64,
    pub findings_cap: f64,
    pub unfiled_points: f64,
    pub reach_bonus_percentile: f64,
    pub reach_bonus_points: f64,
    pub veto_score_cap: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitRules {
    pub duplicate_account_points: f64,
    pub missed_directive_points: f64,
    pub late_directive_points: f64,
    pub missing_self_inspection_points: f64,
    pub late_self_inspection_points: f64,
    pub late_filing_points: f64,
    pub unannounced_closure_points: f64,
    pub active_after_closure_points: f64,
    pub missed_directives_for_criticism: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grades {
    pub excellent: f64,
    pub good: f64,
    pub pass: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub active_days: f64,
    pub sleeping_days: f64,
    pub veto_no_update_days: i64,
    /// `govmedia watch` warns of an account whose last post is this many days old (before the
    /// veto applies); rubric files written before the key existed get the default.
    #[serde(default = "default_warn_no_update_days")]
    pub warn_no_update_days: i64,
    pub sla_working_days: i64,
    pub finding_limit_working_days: i64,
    pub filing_limit_working_days: i64,
    pub interaction_veto_min_messages: i64,
    pub filing_required_from: toml::value::Datetime,
    /// The whole hours a unit has to repost a directive that gives no deadline of its own (as a
    /// directive's own `deadline_hours`, an integer). Optional so
    /// that rubric files written before it existed still load: [`Rubric::parse`] fills in the
    /// built-in rubric's value.
    #[serde(default)]
    pub directive_deadline_hours: Option<i64>,
}

impl Grades {
    /// The lowest rounded score of a grade (`None` for the failing grade, which has no floor).
    pub fn threshold(&self, grade: Grade) -> Option<f64> {
        match grade {
            Grade::Excellent => Some(self.excellent),
            Grade::Good => Some(self.good),
            Grade::Pass => Some(self.pass),
            Grade::Fail => None,
        }
    }

    /// The grade of a score, as the models grade it: the score rounded to 4 places (SPEC §7).
    pub fn grade_of(&self, score: f64) -> Grade {
        let rounded = round4(score);
        Grade::ALL.into_iter().find(|g| self.threshold(*g).is_none_or(|t| rounded >= t)).unwrap_or(Grade::Fail)
    }
}

/// A score rounded to 4 places as the models round it before grading: `round(score + 1e-9, 4)`,
/// half away from zero (scores are never negative).
pub fn round4(score: f64) -> f64 {
    ((score + 1e-9) * 1e4).round() / 1e4
}

/// The built-in rubric.
impl Default for Rubric {
    fn default() -> Rubric {
        Rubric::builtin()
    }
}

fn default_warn_no_update_days() -> i64 {
    10
}

impl Rubric {
    pub fn builtin() -> Rubric {
        Rubric::parse(DEFAULT, "pipelines/rubric.toml (built in)").expect("the built-in rubric is valid")
    }

    pub fn parse(text: &str, origin: &str) -> Result<Rubric, ModelError> {
        let invalid = |reason: String| ModelError::Rubric { origin: origin.to_string(), reason };
        let mut r: Rubric = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if r.rules.directive_deadline_hours.is_none() {
            if text == DEFAULT {
                return Err(invalid("rules.directive_deadline_hours is missing".into()));
            }
            r.rules.directive_deadline_hours = Rubric::builtin().rules.directive_deadline_hours;
        }
        if r.filing_required_from().is_none() {
            return Err(invalid("rules.filing_required_from is not a date".into()));
        }
        for (name, v) in [
            ("rules.sla_working_days", r.rules.sla_working_days),
            ("rules.veto_no_update_days", r.rules.veto_no_update_days),
            ("rules.directive_deadline_hours", r.directive_deadline_hours()),
            ("rules.warn_no_update_days", r.rules.warn_no_update_days),
        ] {
            if v < 0 {
                return Err(invalid(format!("{name} must not be negative")));
            }
        }
        Ok(r)
    }

    pub fn load(path: &std::path::Path) -> Result<Rubric, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::RubricRead { path: path.to_path_buf(), source })?;
        Rubric::parse(&text, &path.display().to_string())
    }

    /// The reposting deadline of a directive that gives none (`rules.directive_deadline_hours`).
    pub fn directive_deadline_hours(&self) -> i64 {
        // Always set once parsed (`parse` fills in the built-in value).
        self.rules.directive_deadline_hours.unwrap_or_default()
    }

    /// `rules.filing_required_from` as a date (None when the TOML value has no date part).
    pub fn filing_required_from(&self) -> Option<chrono::NaiveDate> {
        let d = self.rules.filing_required_from.date?;
        chrono::NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
    }

    /// The one-row `rubric` table.
    pub fn to_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let f = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![v])) };
        let i = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let (a, u, g, r) = (&self.account, &self.unit, &self.grades, &self.rules);
        let from = self.filing_required_from().map(crate::time::date_to_days).unwrap_or(0);
        let mut columns = vec![
            ("silent_week_points", f(a.silent_week_points)),
            ("silent_weeks_cap", f(a.silent_weeks_cap)),
            ("overdue_message_points", f(a.overdue_message_points)),
            ("overdue_messages_cap", f(a.overdue_messages_cap)),
            ("typo_points", f(a.typo_points)),
            ("uncorrected_finding_points", f(a.uncorrected_finding_points)),
            ("findings_cap", f(a.findings_cap)),
            ("unfiled_points", f(a.unfiled_points)),
            ("reach_bonus_percentile", f(a.reach_bonus_percentile)),
            ("reach_bonus_points", f(a.reach_bonus_points)),
            ("veto_score_cap", f(a.veto_score_cap)),
            ("duplicate_account_points", f(u.duplicate_account_points)),
            ("missed_directive_points", f(u.missed_directive_points)),
            ("late_directive_points", f(u.late_directive_points)),
            ("missing_self_inspection_points", f(u.missing_self_inspection_points)),
            ("late_self_inspection_points", f(u.late_self_inspection_points)),
            ("late_filing_points", f(u.late_filing_points)),
            ("unannounced_closure_points", f(u.unannounced_closure_points)),
            ("active_after_closure_points", f(u.active_after_closure_points)),
            ("missed_directives_for_criticism", i(u.missed_directives_for_criticism)),
            ("grade_excellent", f(g.excellent)),
            ("grade_good", f(g.good)),
            ("grade_pass", f(g.pass)),
            ("active_days", f(r.active_days)),
            ("sleeping_days", f(r.sleeping_days)),
            ("veto_no_update_days", i(r.veto_no_update_days)),
            ("warn_no_update_days", i(r.warn_no_update_days)),
            ("sla_working_days", i(r.sla_working_days)),
            ("finding_limit_working_days", i(r.finding_limit_working_days)),
            ("filing_limit_working_days", i(r.filing_limit_working_days)),
            ("interaction_veto_min_messages", i(r.interaction_veto_min_messages)),
            ("filing_required_from", Arc::new(Date32Array::from(vec![from])) as ArrayRef),
            ("directive_deadline_hours", i(self.directive_deadline_hours())),
        ];
        // The words the models write into the marts, from their one home.
        let label = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        columns.extend(Grade::ALL.iter().map(|g| (g.label_column(), label(g.label()))));
        columns.extend(Category::ALL.iter().map(|c| (c.label_column(), label(c.label()))));
        RecordBatch::try_from_iter(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rubric_is_the_spec_default() {
        let r = Rubric::builtin();
        assert_eq!(r.account.veto_score_cap, 59.0);
        assert_eq!(r.rules.sla_working_days, 3);
        assert_eq!(r.filing_required_from().unwrap().to_string(), "2019-08-16");
        assert_eq!(r.directive_deadline_hours(), 12);
        assert_eq!(r.rules.warn_no_update_days, 10);
        assert_eq!(r.to_batch().unwrap().num_columns(), 33 + 4 + 6);
    }

    #[test]
    fn a_rubric_without_the_directive_deadline_takes_the_builtin_one() {
        let old = DEFAULT.lines().filter(|l| !l.starts_with("directive_deadline_hours")).collect::<Vec<_>>().join("\n");
        assert_ne!(old, DEFAULT);
        assert_eq!(Rubric::parse(&old, "old.toml").unwrap().directive_deadline_hours(), 12);
        let eight = DEFAULT.replace("directive_deadline_hours = 12", "directive_deadline_hours = 8");
        assert_eq!(Rubric::parse(&eight, "eight.toml").unwrap().directive_deadline_hours(), 8);
        let negative = DEFAULT.replace("directive_deadline_hours = 12", "directive_deadline_hours = -1");
        assert!(Rubric::parse(&negative, "x.toml").unwrap_err().to_string().contains("directive_deadline_hours"));
    }

    #[test]
    fn grades_follow_the_thresholds_on_the_rounded_score() {
        let g = Rubric::builtin().grades;
        assert_eq!(g.grade_of(90.0), Grade::Excellent);
        assert_eq!(g.grade_of(89.99999), Grade::Excellent, "rounds to 90.0");
        assert_eq!(g.grade_of(89.9), Grade::Good);
        assert_eq!(g.grade_of(60.0), Grade::Pass);
        assert_eq!(g.grade_of(59.99), Grade::Fail);
        let strict = Grades { excellent: 95.0, good: 85.0, pass: 70.0 };
        assert_eq!(strict.grade_of(69.0), Grade::Fail);
        assert_eq!(strict.threshold(Grade::Pass), Some(70.0));
    }

    #[test]
    fn wrong_keys_and_types_are_named() {
        let typo = DEFAULT.replace("silent_week_points", "silent_weak_points");
        let e = Rubric::parse(&typo, "x.toml").unwrap_err().to_string();
        assert!(e.contains("silent_weak_points"), "{e}");
        let wrong = DEFAULT.replace("sla_working_days = 3", "sla_working_days = \"three\"");
        let e = Rubric::parse(&wrong, "x.toml").unwrap_err().to_string();
        assert!(e.contains("sla_working_days") || e.contains("invalid type"), "{e}");
        let negative = DEFAULT.replace("warn_no_update_days = 10", "warn_no_update_days = -1");
        let e = Rubric::parse(&negative, "x.toml").unwrap_err().to_string();
        assert!(e.contains("rules.warn_no_update_days must not be negative"), "{e}");
        // A rubric written before the key existed reads with the default.
        let older: String = DEFAULT.lines().filter(|l| !l.starts_with("warn_no_update_days")).collect::<Vec<_>>().join("\n");
        assert_eq!(Rubric::parse(&older, "x.toml").unwrap().rules.warn_no_update_days, 10);
    }
}
