-- Filing (备案) issues per account (SPEC §5.7): unfiled, late filings, unannounced closures,
-- and posting after closure, as of C: a filing whose action is dated on a day whose 00:00 is at
-- or after C had not happened, and a filed_on or announced_on dated so reads as empty (SPEC §5).
with params as (
    select * from params
),

dated_filings as (
    select
        f.platform,
        f.account_id,
        f.action,
        f.action_date,
        case when to_unixtime(f.filed_on) - 28800 < p.c_s then f.filed_on end as filed_on,
        case when to_unixtime(f.announced_on) - 28800 < p.c_s then f.announced_on end as announced_on
    from params p
    cross join stg_filings f
    where to_unixtime(f.action_date) - 28800 < p.c_s
),

windows as (
    select * from int_account_windows
),

filed_open as (
    select distinct platform, account_id
    from dated_filings
    where action = 'open' and filed_on is not null
),

in_quarter as (
    select f.*
    from params p
    cross join dated_filings f
    where f.action_date >= p.q_start_date and f.action_date < p.q_end_date
),

late as (
    select f.platform, f.account_id, count(*) as late_filings
    from params p
    cross join in_quarter f
    join int_limit_days lim on lim.limit_kind = 'filing' and lim.date = f.action_date
    where f.filed_on > lim.limit_day
       or (f.filed_on is null and lim.limit_end_s <= p.c_s)
    group by f.platform, f.account_id
),

unannounced as (
    select platform, account_id, count(*) as unannounced_closures
    from in_quarter
    where action in ('suspend', 'deregister') and announced_on is null
    group by platform, account_id
),

after_closure as (
    select distinct w.platform, w.account_id
    from params p
    cross join windows w
    join int_account_closures c on c.platform = w.platform and c.account_id = w.account_id
    join stg_posts s on s.platform = w.platform and s.account_id = w.account_id
    where s.published_s >= c.closure_s
      and s.published_s >= p.q_start_s and s.published_s < least(p.q_end_s, p.c_s)
)

select
    w.platform,
    w.account_id,
    coalesce(not w.registered or (w.opened_on >= rb.filing_required_from and fo.account_id is null), false) as unfiled,
    coalesce(l.late_filings, 0) as late_filings,
    coalesce(u.unannounced_closures, 0) as unannounced_closures,
    (ac.account_id is not null) as active_after_closure
from rubric rb
cross join windows w
left join filed_open fo on fo.platform = w.platform and fo.account_id = w.account_id
left join late l on l.platform = w.platform and l.account_id = w.account_id
left join unannounced u on u.platform = w.platform and u.account_id = w.account_id
left join after_closure ac on ac.platform = w.platform and ac.account_id = w.account_id
