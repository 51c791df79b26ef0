-- Follower counts, one row per account and day counted, with the start (00:00 Beijing time) of
-- the day counted in Unix seconds: a count dated d is known from that instant on (SPEC §5.3).
select
    platform,
    account_id,
    date,
    followers,
    to_unixtime(date) - 28800 as day_start_s
from followers
