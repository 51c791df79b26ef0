-- Update frequency (SPEC §5.1): posts in the window, silent Monday–Sunday weeks, the longest gap,
-- days since the last post (history before Q counts), the two-week veto and the status.
--
-- Two passes over the posts: the posts in the window (int_posts_in_window), ordered by time per
-- account, give the counts, the gaps and the weeks with a post; all posts up to C, joined once to
-- the accounts' windows (the small side, on the left), give the last post and the recent ones.
-- The posts are stored in order of account and time (govmedia declares that order to
-- DataFusion), so the window per (platform, account_id) ordered by time and the aggregate after
-- it read the rows as they come, with no sort; the results join back to the windows by account.
-- Weeks are numbered as int_posts_in_window numbers them (week_k).
with windows as (
    select
        w.platform,
        w.account_id,
        w.account_no,
        w.closed_at_c,
        w.window_start_s,
        w.window_end_s,
        prm.c_s,
        prm.c_s - rb.veto_no_update_days * 86400 as recent_from_s,
        w.first_week,
        w.last_week
    from params prm
    cross join rubric rb
    cross join int_account_windows w
),

in_window as (
    select
        platform,
        account_id,
        published_s as t,
        kind = 'original' as original,
        -- The post's week when it is one of the window's whole weeks: computed before the window
        -- below, which then carries one column for it instead of three.
        case when week_k between first_week and last_week then week_k end as window_week
    from int_posts_in_window
),

sequenced as (
    select
        platform,
        account_id,
        t,
        original,
        window_week,
        lead(t) over (partition by platform, account_id order by t) as next_t
    from in_window
),

per_account as (
    select
        platform,
        account_id,
        count(*) as posts,
        count(*) filter (where original) as original_posts,
        count(distinct window_week) as weeks_with_posts,
        min(t) as first_t,
        max(t) as last_t,
        max(next_t - t) as inner_gap_s
    from sequenced
    group by platform, account_id
),

history as (
    select
        w.account_no,
        max(p.published_s) as last_post_s,
        count(*) filter (where p.published_s >= w.recent_from_s and p.published_s < w.c_s) as recent_posts
    from windows w
    join stg_posts p on p.platform = w.platform and p.account_id = w.account_id
    where p.published_s <= w.c_s
    group by w.account_no
),

joined as (
    select
        w.platform,
        w.account_id,
        w.closed_at_c,
        coalesce(a.posts, 0) as posts,
        coalesce(a.original_posts, 0) as original_posts,
        -- Whole weeks in the window less those with a post.
        (case when w.last_week >= w.first_week then w.last_week - w.first_week + 1 else 0 end)
            - coalesce(a.weeks_with_posts, 0) as silent_weeks,
        -- Gaps between t0 = window start, the posts, and tn+1 = window end.
        case
            when a.first_t is null then w.window_end_s - w.window_start_s
            else greatest(a.first_t - w.window_start_s, w.window_end_s - a.last_t, coalesce(a.inner_gap_s, 0))
        end as longest_gap_s,
        h.last_post_s,
        cast(w.c_s - h.last_post_s as double) / 86400.0 as days_since_last_post,
        coalesce(h.recent_posts, 0) as recent_posts
    from windows w
    left join per_account a on a.platform = w.platform and a.account_id = w.account_id
    left join history h on h.account_no = w.account_no
)

select
    j.platform,
    j.account_id,
    j.posts,
    j.original_posts,
    j.silent_weeks,
    cast(j.longest_gap_s as double) / 86400.0 as longest_gap_days,
    j.days_since_last_post,
    -- The last post at or before C (Unix seconds): when the no-update veto will apply (govmedia watch).
    j.last_post_s,
    (not j.closed_at_c and j.recent_posts = 0) as veto_no_update,
    case
        when j.closed_at_c then 'closed'
        when j.days_since_last_post <= rb.active_days then 'active'
        when j.days_since_last_post <= rb.sleeping_days then 'sleeping'
        else 'zombie'
    end as status
from rubric rb
cross join joined j
