-- The roll-up of units to their regions (issue #16): per district (区县, ranked among the districts
-- of its city) and per city (市, ranked among the cities), the accounts checked and failed and the
-- pass rate as platform_quarter_summary counts them, the average unit score and the units
-- criticised. Regions rank as units do (SPEC §7): by their average unit score rounded to 4 places,
-- ties sharing the better rank, and grade by the same thresholds. Units without a region are in no
-- row; a unit with a city but no district counts for its city only.
with params as (
    select * from params
),

units as (
    select * from int_unit_scores
),

regions as (
    select * from int_unit_regions
),

accounts as (
    select
        a.unit_name,
        sum(case when a.graded then 1 else 0 end) as accounts_checked,
        sum(case when a.graded and a.grade = rb.grade_fail_label then 1 else 0 end) as accounts_failed
    from int_account_scores a
    cross join rubric rb
    where a.registered and a.unit_name is not null
    group by a.unit_name
),

items as (
    select unit_name, count(*) as criticism_items from criticism_items where unit_name is not null group by unit_name
),

unit_rows as (
    select
        r.city,
        r.district,
        u.unit_name,
        u.accounts,
        u.accounts_vetoed,
        u.score,
        u.grade,
        case when u.grade = rb.grade_fail_label then 1 else 0 end as unit_failed,
        coalesce(a.accounts_checked, 0) as accounts_checked,
        coalesce(a.accounts_failed, 0) as accounts_failed,
        coalesce(i.criticism_items, 0) as criticism_items
    from units u
    join regions r on r.unit_name = u.unit_name
    cross join rubric rb
    left join accounts a on a.unit_name = u.unit_name
    left join items i on i.unit_name = u.unit_name
),

per_region as (
    select
        'district' as level, city, district, concat(city, '/', district) as region_path, district as region, city as parent,
        count(*) as units,
        sum(unit_failed) as units_failed,
        sum(case when criticism_items > 0 then 1 else 0 end) as units_criticized,
        sum(accounts) as accounts,
        sum(accounts_vetoed) as accounts_vetoed,
        sum(accounts_checked) as accounts_checked,
        sum(accounts_failed) as accounts_failed,
        sum(criticism_items) as criticism_items,
        avg(score) as unit_score_avg
    from unit_rows
    where district is not null
    group by city, district
    union all
    select
        'city' as level, city, cast(null as varchar) as district, city as region_path, city as region, cast(null as varchar) as parent,
        count(*) as units,
        sum(unit_failed) as units_failed,
        sum(case when criticism_items > 0 then 1 else 0 end) as units_criticized,
        sum(accounts) as accounts,
        sum(accounts_vetoed) as accounts_vetoed,
        sum(accounts_checked) as accounts_checked,
        sum(accounts_failed) as accounts_failed,
        sum(criticism_items) as criticism_items,
        avg(score) as unit_score_avg
    from unit_rows
    group by city
),

rounded as (
    select r.*, round(r.unit_score_avg + 1e-9, 4) as score_rounded from per_region r
)

select
    p.quarter,
    r.level,
    r.region_path,
    r.region,
    r.parent,
    r.city,
    r.district,
    r.units,
    r.units_failed,
    r.units_criticized,
    r.accounts,
    r.accounts_vetoed,
    r.accounts_checked,
    r.accounts_failed,
    case when r.accounts_checked = 0 then null
         else round(100.0 * (r.accounts_checked - r.accounts_failed) / r.accounts_checked + 1e-9, 2) end as pass_rate,
    r.criticism_items,
    r.unit_score_avg,
    rank() over (partition by r.level, r.parent order by r.score_rounded desc) as rank,
    case
        when r.score_rounded >= rb.grade_excellent then rb.grade_excellent_label
        when r.score_rounded >= rb.grade_good then rb.grade_good_label
        when r.score_rounded >= rb.grade_pass then rb.grade_pass_label
        else rb.grade_fail_label
    end as grade
from params p
cross join rubric rb
cross join rounded r
