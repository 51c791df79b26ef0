-- An account's closure date as of C (SPEC §5): the earliest 关停/注销 after its latest 开设, any
-- 关停/注销 when it has no 开设 filing, among the filings whose action_date's 00:00 is before C.
-- A filing dated later had not happened at C. Accounts with a closure filing only after C keep a
-- row with a NULL closure_date: they were open at C, and a register read after C that marks them
-- 关停/注销 is not an unfiled closure. Accounts without any closure filing have no row.
with params as (
    select * from params
),

dated_filings as (
    select f.platform, f.account_id, f.action, f.action_date, to_unixtime(f.action_date) - 28800 < p.c_s as by_c
    from params p
    cross join stg_filings f
),

latest_open as (
    select
        platform,
        account_id,
        max(action_date) as opened_on,
        max(case when by_c then action_date end) as opened_on_by_c
    from dated_filings
    where action = 'open'
    group by platform, account_id
),

closures as (
    select
        f.platform,
        f.account_id,
        min(case when f.by_c and (o.opened_on_by_c is null or f.action_date > o.opened_on_by_c) then f.action_date end)
            as closure_date,
        -- The same rule over every filing, whatever its date: whether the account has a closure at all.
        min(case when o.opened_on is null or f.action_date > o.opened_on then f.action_date end) as closure_ever
    from dated_filings f
    left join latest_open o on o.platform = f.platform and o.account_id = f.account_id
    where f.action in ('suspend', 'deregister')
    group by f.platform, f.account_id
)

select platform, account_id, closure_date, to_unixtime(closure_date) - 28800 as closure_s
from closures
where closure_date is not null or closure_ever is not null
