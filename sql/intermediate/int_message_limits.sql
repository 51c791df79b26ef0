-- Each public message received in its account's window, with its reply limit: the end of the
-- `sla_working_days`-th working day after the day it was received (SPEC §5.2).
--
-- The small tables come first in each join (the day limits with the check point, then the
-- accounts' windows): they are held in memory and the messages stream past them once. A message's
-- day of receipt is looked up by its number (stg_interactions.received_day), an integer. Each
-- message carries its window's account number (account_no) beside the (platform, account_id)
-- strings: the models that count and rank messages per account group and sort on that integer.
with day_limits as (
    select cast(floor(to_unixtime(l.date) / 86400.0) as bigint) as day_k, l.limit_end_s, p.c_s
    from params p
    cross join int_limit_days l
    where l.limit_kind = 'reply'
),

messages as (
    select w.account_no, m.platform, m.account_id, m.message_id, m.received_s, m.replied_s, m.received_day
    from int_account_windows w
    join stg_interactions m on m.platform = w.platform and m.account_id = w.account_id
    where m.received_s >= w.window_start_s and m.received_s < w.window_end_s
)

select
    m.account_no,
    m.platform,
    m.account_id,
    m.message_id,
    m.received_s,
    m.replied_s,
    l.limit_end_s,
    (m.replied_s is not null and m.replied_s <= l.c_s) as replied,
    (m.replied_s is not null and m.replied_s <= l.c_s and m.replied_s < l.limit_end_s) as replied_on_time,
    ((m.replied_s is null or m.replied_s > l.c_s) and l.limit_end_s > l.c_s) as pending
from day_limits l
join messages m on m.received_day = l.day_k
