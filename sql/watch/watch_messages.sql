-- Public messages not answered by the as-of point C (SPEC §5.2, the quarterly SLA's messages and
-- limits, from int_message_limits): those past their limit, one line per account with the earliest
-- limit; those whose limit ends within the watch's horizon (`within_s`), one line per account and
-- limit day.
with unanswered as (
    select m.platform, m.account_id, m.limit_end_s, prm.c_s, wp.within_s
    from params prm
    cross join watch_params wp
    cross join int_message_limits m
    where not m.replied
),

overdue as (
    select platform, account_id, 'message_overdue' as kind, cast(null as varchar) as subject, count(*) as items, min(limit_end_s) as deadline_s
    from unanswered
    where limit_end_s <= c_s
    group by platform, account_id
),

due as (
    select
        platform,
        account_id,
        'message_due' as kind,
        -- The limit day (the day before the limit's end at 00:00, Beijing time).
        to_char(cast(to_timestamp_seconds(limit_end_s - 86400 + 28800) as date), '%Y-%m-%d') as subject,
        count(*) as items,
        limit_end_s as deadline_s
    from unanswered
    where limit_end_s > c_s and limit_end_s <= c_s + within_s
    group by platform, account_id, limit_end_s
),

lines as (
    select * from overdue
    union all
    select * from due
)

select
    w.unit_name,
    l.platform,
    l.account_id,
    w.account_name,
    l.kind,
    case when l.kind = 'message_overdue' then '留言超期未回复' else '留言即将到期' end as problem,
    l.subject,
    l.items,
    l.deadline_s,
    case
        when l.kind = 'message_overdue' then concat('回复', l.items, '条已超过', rb.sla_working_days, '个工作日时限的群众留言')
        else concat('回复', l.items, '条群众留言')
    end as todo
from rubric rb
cross join lines l
join int_account_windows w on w.platform = l.platform and w.account_id = l.account_id
