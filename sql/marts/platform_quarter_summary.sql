-- Accounts checked, failed and the pass rate (合格率), per platform and overall (SPEC §6).
-- Checked = graded accounts, unregistered ones included; failed = the failing grade (不合格).
with params as (
    select * from params
),

graded as (
    select a.platform, a.grade = rb.grade_fail_label as failed
    from rubric rb
    cross join int_account_scores a
    where a.graded
),

per_platform as (
    select platform, count(*) as accounts_checked, sum(case when failed then 1 else 0 end) as accounts_failed
    from graded
    group by platform
    union all
    select 'all' as platform, count(*) as accounts_checked, sum(case when failed then 1 else 0 end) as accounts_failed
    from graded
)

select
    p.quarter,
    s.platform,
    s.accounts_checked,
    coalesce(s.accounts_failed, 0) as accounts_failed,
    case when s.accounts_checked = 0 then null
         else round(100.0 * (s.accounts_checked - coalesce(s.accounts_failed, 0)) / s.accounts_checked + 1e-9, 2) end as pass_rate
from params p
cross join per_platform s
