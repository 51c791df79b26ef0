-- The current month's self-inspection publication (自查情况公开, SPEC §5.5), due by the 25th: the
-- month is the one the as-of point C closes (the Beijing month of the instant just before C, so
-- that C at a quarter's end still reads the quarter's last month). Before the 25th has ended: the
-- units with no publication for the month dated before C; after it: the units
-- int_unit_self_inspections finds missing for the month.
with today as (
    select d.date, prm.c_s
    from params prm
    cross join stg_calendar_days d
    where d.day_start_s <= prm.c_s - 1 and prm.c_s - 1 < d.day_start_s + 86400
),

this_month as (
    select
        to_char(date, '%Y-%m') as month,
        concat(cast(extract(year from date) as bigint), '年', cast(extract(month from date) as bigint), '月') as month_zh,
        to_unixtime(to_date(concat(to_char(date, '%Y-%m'), '-25'))) - 28800 + 86400 as due_end_s,
        c_s
    from today
),

units as (
    select distinct unit_name from int_account_windows where registered and unit_name is not null
),

published as (
    select s.unit_name
    from this_month m
    join stg_self_inspections s on s.month = m.month
    where to_unixtime(s.published_on) - 28800 < m.c_s
),

not_yet_due as (
    select u.unit_name
    from this_month m
    cross join units u
    left join published p on p.unit_name = u.unit_name
    where m.due_end_s > m.c_s and p.unit_name is null
),

missing as (
    select s.unit_name
    from this_month m
    join int_unit_self_inspections s on s.month = m.month
    where m.due_end_s <= m.c_s and s.verdict = 'missing'
),

lacking as (
    select unit_name from not_yet_due
    union all
    select unit_name from missing
)

select
    l.unit_name,
    cast(null as varchar) as platform,
    cast(null as varchar) as account_id,
    cast(null as varchar) as account_name,
    'self_inspection' as kind,
    '自查情况未公开' as problem,
    m.month as subject,
    cast(1 as bigint) as items,
    m.due_end_s as deadline_s,
    concat('公开', m.month_zh, '政务新媒体自查情况') as todo
from this_month m
cross join lacking l
