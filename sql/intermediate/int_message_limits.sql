-- Each public message received in its account's window, with its reply limit: the end of the
-- `sla_working_days`-th working day after the day it was received (SPEC §5.2).
--
-- Joins keep the small table on the left: DataFusion builds its hash table (and a cross join
-- its buffer) from the left side, and this model streams every message of the quarter.
with params as (
    select * from params
),

-- For each day: the working-day ordinal its limit falls on.
receipt_days as (
    select c.date, c.working_day_ordinal + rb.sla_working_days as limit_ordinal
    from rubric rb
    cross join stg_calendar_days c
),

-- For each working day: the instant its end is, and the check point.
limit_days as (
    select c.working_day_ordinal, c.day_start_s + 86400 as limit_end_s, p.c_s
    from params p
    cross join stg_calendar_days c
    where c.is_working_day
),

messages as (
    select m.platform, m.account_id, m.message_id, m.received_s, m.replied_s, m.received_on
    from int_account_windows w
    join stg_interactions m on m.platform = w.platform and m.account_id = w.account_id
    where m.received_s >= w.window_start_s and m.received_s < w.window_end_s
),

with_limit as (
    select m.*, d.limit_ordinal
    from receipt_days d
    join messages m on m.received_on = d.date
)

select
    m.platform,
    m.account_id,
    m.message_id,
    m.received_s,
    m.replied_s,
    l.limit_end_s,
    (m.replied_s is not null and m.replied_s <= l.c_s) as replied,
    (m.replied_s is not null and m.replied_s <= l.c_s and m.replied_s < l.limit_end_s) as replied_on_time,
    ((m.replied_s is null or m.replied_s > l.c_s) and l.limit_end_s > l.c_s) as pending
from limit_days l
join with_limit m on m.limit_ordinal = l.working_day_ordinal
