-- One row per day 2018–2028: whether it is a working day (SPEC §3.9), and its working-day
-- ordinal (working days up to and including it), so that "the Nth working day after d" is the
-- working day whose ordinal is d's ordinal + N.
with days as (
    select cast(d as date) as date
    from unnest(generate_series(DATE '2018-01-01', DATE '2028-12-31', INTERVAL '1 day')) as t(d)
),

flagged as (
    select
        days.date,
        case
            when calendar.kind = 'holiday' then false
            when calendar.kind = 'workday' then true
            else extract(dow from days.date) not in (0, 6)
        end as is_working_day
    from days
    left join calendar on calendar.date = days.date
)

select
    date,
    is_working_day,
    sum(case when is_working_day then 1 else 0 end)
        over (order by date rows between unbounded preceding and current row) as working_day_ordinal,
    to_unixtime(date) - 28800 as day_start_s
from flagged
