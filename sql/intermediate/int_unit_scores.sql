-- Unit scores before criticism (SPEC §7): the average of its graded accounts, less the unit
-- deductions, clamped to 0–100, ranked with ties sharing the better rank.
with accounts as (
    select * from int_account_scores where registered and unit_name is not null
),

per_unit as (
    select
        unit_name,
        max(unit_type) as unit_type,
        count(*) as accounts,
        sum(case when vetoed then 1 else 0 end) as accounts_vetoed,
        sum(case when unfiled then 1 else 0 end) as unfiled_accounts,
        avg(score) as account_score_avg,
        sum(late_filings) as late_filings,
        sum(unannounced_closures) as unannounced_closures,
        sum(case when active_after_closure then 1 else 0 end) as active_after_closure
    from accounts
    group by unit_name
),

duplicates as (
    select unit_name, sum(extra_accounts) as duplicate_platform_accounts
    from int_unit_duplicates
    group by unit_name
),

directive_counts as (
    select
        unit_name,
        sum(case when verdict <> 'not_yet_due' then 1 else 0 end) as directives_due,
        sum(case when verdict = 'on_time' then 1 else 0 end) as directives_on_time,
        sum(case when verdict = 'late' then 1 else 0 end) as directives_late,
        sum(case when verdict = 'missed' then 1 else 0 end) as directives_missed
    from int_directive_assessments
    group by unit_name
),

inspections as (
    select
        unit_name,
        sum(case when verdict = 'on_time' then 1 else 0 end) as self_inspections_on_time,
        sum(case when verdict = 'late' then 1 else 0 end) as self_inspections_late,
        sum(case when verdict = 'missing' then 1 else 0 end) as self_inspections_missing
    from int_unit_self_inspections
    group by unit_name
),

joined as (
    select
        u.unit_name,
        u.unit_type,
        u.accounts,
        u.accounts_vetoed,
        coalesce(d.duplicate_platform_accounts, 0) as duplicate_platform_accounts,
        u.unfiled_accounts,
        coalesce(di.directives_due, 0) as directives_due,
        coalesce(di.directives_on_time, 0) as directives_on_time,
        coalesce(di.directives_late, 0) as directives_late,
        coalesce(di.directives_missed, 0) as directives_missed,
        coalesce(i.self_inspections_on_time, 0) as self_inspections_on_time,
        coalesce(i.self_inspections_late, 0) as self_inspections_late,
        coalesce(i.self_inspections_missing, 0) as self_inspections_missing,
        u.account_score_avg,
        u.late_filings,
        u.unannounced_closures,
        u.active_after_closure
    from per_unit u
    left join duplicates d on d.unit_name = u.unit_name
    left join directive_counts di on di.unit_name = u.unit_name
    left join inspections i on i.unit_name = u.unit_name
),

deducted as (
    select
        j.*,
        j.duplicate_platform_accounts * rb.duplicate_account_points
            + j.directives_missed * rb.missed_directive_points
            + j.directives_late * rb.late_directive_points
            + j.self_inspections_missing * rb.missing_self_inspection_points
            + j.self_inspections_late * rb.late_self_inspection_points
            + j.late_filings * rb.late_filing_points
            + j.unannounced_closures * rb.unannounced_closure_points
            + j.active_after_closure * rb.active_after_closure_points
            as unit_deductions
    from rubric rb
    cross join joined j
),

scored as (
    select d.*, greatest(least(coalesce(d.account_score_avg, 100.0) - d.unit_deductions, 100.0), 0.0) as score
    from deducted d
),

-- Grades and ranks compare the score rounded to 4 places (SPEC §7): the same score reached by
-- different float sums (63.333333333333336 and 63.33333333333333) must grade and rank alike. The
-- 1e-9 nudge rounds half away from zero in decimal terms (scores are never negative), and both
-- engines' round() is round-half-away-from-zero of x·10⁴, so they agree.
rounded as (
    select s.*, round(s.score + 1e-9, 4) as score_rounded
    from scored s
)

select
    r.*,
    rank() over (order by r.score_rounded desc) as rank,
    case
        when r.score_rounded >= rb.grade_excellent then rb.grade_excellent_label
        when r.score_rounded >= rb.grade_good then rb.grade_good_label
        when r.score_rounded >= rb.grade_pass then rb.grade_pass_label
        else rb.grade_fail_label
    end as grade
from rubric rb
cross join rounded r
