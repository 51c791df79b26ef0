-- Posts per in-scope account per Monday–Sunday week of the quarter (the report's heat map).
-- Weeks are numbered from 1 (the week holding the quarter's first day).
with params as (
    select * from params
),

weeks as (
    select
        d.date as week_start,
        -- Monday 00:00 Beijing time is 316800 + k * 604800 Unix seconds (1970-01-05 was a Monday).
        cast((d.day_start_s - 316800) / 604800 as int) as week_k,
        row_number() over (order by d.date) as week
    from params p
    cross join stg_calendar_days d
    where extract(dow from d.date) = 1
      and d.day_start_s + 7 * 86400 > p.q_start_s
      and d.day_start_s < p.q_end_s
),

-- Each post's week by arithmetic (an equi-join key, no range or cross join over the posts), with
-- its account's number from the windows (counted per integer, not per pair of strings).
per_week as (
    select account_no, week_k, count(*) as posts
    from int_posts_in_window
    group by account_no, week_k
),

-- Every account's weeks as integers first (4 million rows for a country), their counts joined on
-- (account_no, week_k); the names come last, from the windows (the small side) by account_no.
grid as (
    select w.account_no, k.week, k.week_start, k.week_k
    from weeks k
    cross join int_account_windows w
),

grid_counts as (
    select g.account_no, g.week, g.week_start, coalesce(c.posts, 0) as posts
    from grid g
    left join per_week c on c.account_no = g.account_no and c.week_k = g.week_k
),

counts as (
    select w.platform, w.account_id, w.unit_name, w.account_name, g.week, g.week_start, g.posts
    from int_account_windows w
    join grid_counts g on g.account_no = w.account_no
)

select
    p.quarter,
    c.unit_name,
    c.platform,
    c.account_id,
    coalesce(c.account_name, c.account_id) as account_name,
    c.week,
    c.week_start,
    c.posts
from params p
cross join counts c
