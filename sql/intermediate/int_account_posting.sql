-- Update frequency (SPEC §5.1): posts in the window, silent Monday–Sunday weeks, the longest gap,
-- days since the last post (history before Q counts), the two-week veto and the status.
with params as (
    select * from params
),

windows as (
    select * from int_account_windows
),

posts as (
    select * from stg_posts
),

in_window as (
    select w.platform, w.account_id, p.published_s, p.kind
    from windows w
    join posts p on p.platform = w.platform and p.account_id = w.account_id
    where p.published_s >= w.window_start_s and p.published_s < w.window_end_s
),

counts as (
    select platform, account_id, count(*) as posts, sum(case when kind = 'original' then 1 else 0 end) as original_posts
    from in_window
    group by platform, account_id
),

-- Mondays whose whole week lies inside the window.
weeks as (
    select w.platform, w.account_id, d.day_start_s as week_start_s
    from windows w
    join stg_calendar_days d
      on extract(dow from d.date) = 1
     and d.day_start_s >= w.window_start_s
     and d.day_start_s + 7 * 86400 <= w.window_end_s
),

silent as (
    select k.platform, k.account_id, count(*) as silent_weeks
    from weeks k
    where not exists (
        select 1 from in_window i
        where i.platform = k.platform and i.account_id = k.account_id
          and i.published_s >= k.week_start_s and i.published_s < k.week_start_s + 7 * 86400
    )
    group by k.platform, k.account_id
),

-- t0 = window start, t1…tn the posts, tn+1 = window end.
points as (
    select platform, account_id, published_s as t from in_window
    union all
    select platform, account_id, window_start_s as t from windows
    union all
    select platform, account_id, window_end_s as t from windows
),

gaps as (
    select platform, account_id, lead(t) over (partition by platform, account_id order by t) - t as gap_s
    from points
),

longest as (
    select platform, account_id, max(gap_s) as longest_gap_s
    from gaps
    group by platform, account_id
),

last_post as (
    select w.platform, w.account_id, max(p.published_s) as last_post_s
    from windows w
    cross join params prm
    join posts p on p.platform = w.platform and p.account_id = w.account_id
    where p.published_s <= prm.c_s
    group by w.platform, w.account_id
),

recent as (
    select w.platform, w.account_id, count(*) as recent_posts
    from windows w
    cross join params prm
    cross join rubric rb
    join posts p on p.platform = w.platform and p.account_id = w.account_id
    where p.published_s >= prm.c_s - rb.veto_no_update_days * 86400 and p.published_s < prm.c_s
    group by w.platform, w.account_id
),

joined as (
    select
        w.platform,
        w.account_id,
        w.closed_at_c,
        coalesce(c.posts, 0) as posts,
        coalesce(c.original_posts, 0) as original_posts,
        coalesce(s.silent_weeks, 0) as silent_weeks,
        cast(l.longest_gap_s as double) / 86400.0 as longest_gap_days,
        cast(prm.c_s - lp.last_post_s as double) / 86400.0 as days_since_last_post,
        coalesce(r.recent_posts, 0) as recent_posts
    from windows w
    cross join params prm
    left join counts c on c.platform = w.platform and c.account_id = w.account_id
    left join silent s on s.platform = w.platform and s.account_id = w.account_id
    left join longest l on l.platform = w.platform and l.account_id = w.account_id
    left join last_post lp on lp.platform = w.platform and lp.account_id = w.account_id
    left join recent r on r.platform = w.platform and r.account_id = w.account_id
)

select
    j.platform,
    j.account_id,
    j.posts,
    j.original_posts,
    j.silent_weeks,
    j.longest_gap_days,
    j.days_since_last_post,
    (not j.closed_at_c and j.recent_posts = 0) as veto_no_update,
    case
        when j.closed_at_c then 'closed'
        when j.days_since_last_post <= rb.active_days then 'active'
        when j.days_since_last_post <= rb.sleeping_days then 'sleeping'
        else 'zombie'
    end as status
from joined j
cross join rubric rb
