-- Reach (SPEC §5.3): followers, sums of the counts, and the platform's reach index
-- (WCI-style for wechat, BCI-style for weibo, a read/engagement index for the rest).
with params as (
    select * from params
),

windows as (
    select * from int_account_windows
),

-- The posts in the window with their account's number (not its two strings): summed per integer.
in_window as (
    select account_no, kind, position, reads, wows, likes, comments, shares
    from int_posts_in_window
),

sums as (
    select
        account_no,
        count(*) as n,
        count(*) filter (where kind = 'original') as n_original,
        sum(reads) as reads,
        sum(wows) as wows,
        sum(likes) as likes,
        sum(comments) as comments,
        sum(shares) as shares,
        -- For the indices a NULL count counts as 0.
        cast(coalesce(sum(reads), 0) as double) as r,
        cast(coalesce(sum(wows), 0) as double) as w,
        cast(coalesce(sum(likes), 0) as double) as l,
        cast(coalesce(sum(comments), 0) as double) as m,
        cast(coalesce(sum(shares), 0) as double) as s,
        cast(coalesce(sum(case when position = 1 then reads end), 0) as double) as rh,
        cast(coalesce(sum(case when position = 1 then wows end), 0) as double) as wh,
        cast(coalesce(sum(case when position = 1 then likes end), 0) as double) as lh,
        cast(coalesce(sum(case when position = 1 then shares end), 0) as double) as sh,
        cast(coalesce(max(reads), 0) as double) as r_max,
        cast(coalesce(max(wows), 0) as double) as w_max,
        cast(coalesce(max(likes), 0) as double) as l_max,
        cast(coalesce(max(shares), 0) as double) as s_max,
        cast(coalesce(sum(case when kind = 'original' then shares end), 0) as double) as s_original,
        cast(coalesce(sum(case when kind = 'original' then comments end), 0) as double) as m_original
    from in_window
    group by account_no
),

-- The latest count dated on a day whose 00:00 is before C (SPEC §5.3), and the latest dated
-- before Q start.
followers_ranked as (
    select
        fo.platform,
        fo.account_id,
        fo.followers,
        fo.day_start_s < p.c_s as by_c,
        fo.day_start_s < p.q_start_s as before_q,
        fo.date
    from params p
    cross join stg_followers fo
),

followers_end as (
    select platform, account_id, followers
    from (select *, row_number() over (partition by platform, account_id order by date desc) as rn from followers_ranked where by_c)
    where rn = 1
),

followers_start as (
    select platform, account_id, followers
    from (select *, row_number() over (partition by platform, account_id order by date desc) as rn from followers_ranked where before_q)
    where rn = 1
),

base as (
    select
        w.platform,
        w.account_id,
        cast(w.window_end_s - w.window_start_s as double) / 86400.0 as d,
        coalesce(s.n, 0) as n,
        coalesce(s.n_original, 0) as n_original,
        s.reads, s.wows, s.likes, s.comments, s.shares,
        s.r, s.w, s.l, s.m, s.s, s.rh, s.wh, s.lh, s.sh,
        s.r_max, s.w_max, s.l_max, s.s_max, s.s_original, s.m_original
    from windows w
    left join sums s on s.account_no = w.account_no
),

-- f(r, w, l, s) = 0.70·ln(r+1) + 0.09·ln(10w+1) + 0.06·ln(10l+1) + 0.15·ln(10s+1), on every row of
-- base (read once: a CTE named twice would scan the posts twice).
wci as (
    select
        b.*,
        0.70 * ln(r / d + 1) + 0.09 * ln(10 * w / d + 1) + 0.06 * ln(10 * l / d + 1) + 0.15 * ln(10 * s / d + 1) as o,
        0.70 * ln(r / n + 1) + 0.09 * ln(10 * w / n + 1) + 0.06 * ln(10 * l / n + 1) + 0.15 * ln(10 * s / n + 1) as a,
        0.70 * ln(rh / d + 1) + 0.09 * ln(10 * wh / d + 1) + 0.06 * ln(10 * lh / d + 1) + 0.15 * ln(10 * sh / d + 1) as h,
        0.70 * ln(r_max + 1) + 0.09 * ln(10 * w_max + 1) + 0.06 * ln(10 * l_max + 1) + 0.15 * ln(10 * s_max + 1) as pk
    from base b
),

indexed as (
    select
        x.platform,
        x.account_id,
        x.reads,
        x.wows,
        x.likes,
        x.comments,
        x.shares,
        case
            when x.n = 0 then 0.0
            when x.platform = 'wechat' then power(0.6 * x.o + 0.2 * x.a + 0.1 * x.h + 0.1 * x.pk, 2) * 12
            when x.platform = 'weibo' then
                (0.2 * (0.3 * ln(x.n + 1) + 0.7 * ln(x.n_original + 1))
                 + 0.8 * (0.2 * ln(x.s + 1) + 0.2 * ln(x.m + 1) + 0.25 * ln(x.s_original + 1) + 0.25 * ln(x.m_original + 1) + 0.1 * ln(x.l + 1))) * 160
            else 100 * (0.7 * ln(x.r / x.d + 1) + 0.3 * ln((x.l + x.m + x.s) / x.d + 1))
        end as reach_index
    from wci x
)

select
    i.platform,
    i.account_id,
    fe.followers as followers_end,
    fe.followers - fs.followers as follower_growth,
    i.reads,
    i.wows,
    i.likes,
    i.comments,
    i.shares,
    i.reach_index,
    100 * percent_rank() over (partition by i.platform order by i.reach_index) as reach_percentile
from indexed i
left join followers_end fe on fe.platform = i.platform and fe.account_id = i.account_id
left join followers_start fs on fs.platform = i.platform and fs.account_id = i.account_id
