-- In-scope accounts and their assessment windows (SPEC §5): register accounts with a non-empty
-- window [max(Q start, opened_on), min(Q end, C, closure date)), and accounts not in the
-- register that posted in Q before C (window [Q start, min(Q end, C))).
with params as (
    select * from params
),

registered as (
    select
        r.platform,
        r.account_id,
        r.unit_name,
        r.unit_type,
        r.account_name,
        r.opened_on,
        r.interaction_enabled,
        true as registered,
        c.closure_date,
        c.closure_s,
        greatest(p.q_start_s, coalesce(r.opened_s, p.q_start_s)) as window_start_s,
        least(p.q_end_s, p.c_s, coalesce(c.closure_s, p.q_end_s)) as window_end_s,
        -- A register account marked 关停/注销 without a closure filing has no window; one whose
        -- closure is filed after C was open at C (int_account_closures keeps it, closure_date NULL).
        (r.state in ('suspended', 'deregistered') and c.account_id is null) as closed_unfiled
    from params p
    cross join stg_registry r
    left join int_account_closures c on c.platform = r.platform and c.account_id = r.account_id
),

-- Accounts that posted in Q before C (one row each, before the register is consulted: the posts
-- are the large side, so they are reduced first). A post after C had not happened at C.
posted as (
    -- The one-row params table comes first: a cross join keeps its left side in memory.
    select distinct s.platform, s.account_id
    from params p
    cross join stg_posts s
    where s.published_s >= p.q_start_s and s.published_s < least(p.q_end_s, p.c_s)
),

unregistered as (
    select
        x.platform,
        x.account_id,
        cast(null as varchar) as unit_name,
        cast(null as varchar) as unit_type,
        cast(null as varchar) as account_name,
        cast(null as date) as opened_on,
        cast(null as boolean) as interaction_enabled,
        false as registered,
        cast(null as date) as closure_date,
        cast(null as bigint) as closure_s,
        p.q_start_s as window_start_s,
        least(p.q_end_s, p.c_s) as window_end_s,
        false as closed_unfiled
    from params p
    cross join posted x
    left join stg_registry r on r.platform = x.platform and r.account_id = x.account_id
    where r.account_id is null
),

all_accounts as (
    select * from registered
    union all
    select * from unregistered
)

select
    a.platform,
    a.account_id,
    a.unit_name,
    a.unit_type,
    a.account_name,
    a.opened_on,
    a.interaction_enabled,
    a.registered,
    a.closure_date,
    a.window_start_s,
    a.window_end_s,
    -- The Monday–Sunday weeks wholly inside the window: first_week ..= last_week (none if last <
    -- first), numbered as int_posts_in_window numbers a post's week (Monday 00:00 Beijing time is
    -- 316800 + k * 604800 Unix seconds).
    cast(ceil(cast(a.window_start_s - 316800 as double) / 604800) as int) as first_week,
    cast(floor(cast(a.window_end_s - 604800 - 316800 as double) / 604800) as int) as last_week,
    -- Closed at C: the closure date is before C. Only the others are graded.
    coalesce(a.closure_s < p.c_s, false) as closed_at_c,
    not coalesce(a.closure_s < p.c_s, false) as graded,
    -- A number for the account (1, 2, … in (platform, account_id) order): the models that join
    -- the posts and messages to the windows carry it instead of the two strings, so that grouping
    -- them per account is on one integer. It and the week numbers are 32-bit: narrower rows for
    -- the 49 million posts of a country.
    cast(row_number() over (order by a.platform, a.account_id) as int) as account_no
from params p
cross join all_accounts a
where a.window_end_s > a.window_start_s
  and not a.closed_unfiled
