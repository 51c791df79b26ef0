-- Every post published inside its account's assessment window [window_start_s, window_end_s),
-- with the account's number (account_no) from int_account_windows: the models that count or sum
-- the posts per account group them on that one integer, not on the (platform, account_id) strings.
-- The posts keep the order they are stored in (by platform, account and time): int_account_posting
-- orders them per (platform, account_id) without a sort.
-- The windows are the small side of the join (on the left); the posts stream past them.
--
-- week_k numbers the post's Monday–Sunday week by arithmetic: Monday 00:00 Beijing time is
-- 316800 + k * 604800 Unix seconds (1970-01-05 was a Monday), so the week is
-- floor((t - 316800) / 604800).
select
    w.account_no,
    w.window_start_s,
    w.window_end_s,
    w.first_week,
    w.last_week,
    p.platform,
    p.account_id,
    p.post_id,
    p.published_s,
    cast(floor(cast(p.published_s - 316800 as double) / 604800) as int) as week_k,
    p.kind,
    p.position,
    p.reads,
    p.wows,
    p.likes,
    p.comments,
    p.shares
from int_account_windows w
join stg_posts p on p.platform = w.platform and p.account_id = w.account_id
where p.published_s >= w.window_start_s and p.published_s < w.window_end_s
