-- An account's closure date (SPEC §5): the earliest 关停/注销 after its latest 开设; any 关停/注销
-- when it has no 开设 filing. Accounts without a closure filing have no row.
with filings as (
    select * from stg_filings
),

latest_open as (
    select platform, account_id, max(action_date) as opened_on
    from filings
    where action = 'open'
    group by platform, account_id
),

closures as (
    select f.platform, f.account_id, min(f.action_date) as closure_date
    from filings f
    left join latest_open o on o.platform = f.platform and o.account_id = f.account_id
    where f.action in ('suspend', 'deregister')
      and (o.opened_on is null or f.action_date > o.opened_on)
    group by f.platform, f.account_id
)

select platform, account_id, closure_date, to_unixtime(closure_date) - 28800 as closure_s
from closures
