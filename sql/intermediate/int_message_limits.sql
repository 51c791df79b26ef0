-- Each public message received in its account's window, with its reply limit: the end of the
-- `sla_working_days`-th working day after the day it was received (SPEC §5.2).
with params as (
    select * from params
),

messages as (
    select m.*
    from stg_interactions m
    join int_account_windows w on w.platform = m.platform and w.account_id = m.account_id
    where m.received_s >= w.window_start_s and m.received_s < w.window_end_s
),

-- The working-day ordinal each limit falls on (an equi-join key, so the join below is a hash join).
with_ordinal as (
    select m.*, rec.working_day_ordinal + rb.sla_working_days as limit_ordinal
    -- One-row tables come first in cross joins: the left side is kept in memory.
    from rubric rb
    cross join messages m
    join stg_calendar_days rec on rec.date = m.received_on
)

select
    m.platform,
    m.account_id,
    m.message_id,
    m.received_s,
    m.replied_s,
    lim.day_start_s + 86400 as limit_end_s,
    (m.replied_s is not null and m.replied_s <= p.c_s) as replied,
    (m.replied_s is not null and m.replied_s <= p.c_s and m.replied_s < lim.day_start_s + 86400) as replied_on_time,
    ((m.replied_s is null or m.replied_s > p.c_s) and lim.day_start_s + 86400 > p.c_s) as pending
from params p
cross join with_ordinal m
join stg_calendar_days lim on lim.working_day_ordinal = m.limit_ordinal and lim.is_working_day
