-- One row per unit of the register with an in-scope account: counts, deductions, score, rank,
-- grade and whether it is criticised (SPEC §6, §7).
with params as (
    select * from params
),

units as (
    select * from int_unit_scores
),

criticized as (
    select distinct unit_name from criticism_items where unit_name is not null
)

select
    p.quarter,
    u.unit_name,
    u.unit_type,
    u.accounts,
    u.accounts_vetoed,
    u.duplicate_platform_accounts,
    u.unfiled_accounts,
    u.directives_due,
    u.directives_on_time,
    u.directives_late,
    u.directives_missed,
    u.self_inspections_on_time,
    u.self_inspections_late,
    u.self_inspections_missing,
    u.account_score_avg,
    cast(u.unit_deductions as double) as unit_deductions,
    u.score,
    u.rank,
    u.grade,
    (c.unit_name is not null) as criticized
from params p
cross join units u
left join criticized c on c.unit_name = u.unit_name
