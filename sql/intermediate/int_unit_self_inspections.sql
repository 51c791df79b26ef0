-- Monthly self-inspection publications (SPEC §5.5): every unit with an in-scope account, for each
-- month of Q whose 25th has ended by C (the end of the 25th at or before C).
with params as (
    select * from params
),

months as (
    select
        d.date as month_start,
        to_char(d.date, '%Y-%m') as month,
        d.date + INTERVAL '24 days' as due_on
    from params p
    cross join stg_calendar_days d
    where d.date >= p.q_start_date and d.date < p.q_end_date and extract(day from d.date) = 1
),

due_months as (
    select m.*
    from params p
    cross join months m
    where to_unixtime(m.due_on) - 28800 + 86400 <= p.c_s
),

units as (
    select distinct unit_name from int_account_windows where registered and unit_name is not null
)

select
    u.unit_name,
    m.month,
    s.published_on,
    case
        when s.published_on is not null and s.published_on <= m.due_on then 'on_time'
        when s.published_on is not null and to_unixtime(s.published_on) - 28800 < p.c_s then 'late'
        else 'missing'
    end as verdict
from params p
cross join due_months m
cross join units u
left join stg_self_inspections s on s.unit_name = u.unit_name and s.month = m.month
