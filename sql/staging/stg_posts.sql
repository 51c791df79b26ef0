-- Posts with their instant in Unix seconds. Titles and ids arrive trimmed of Unicode white space
-- (U+3000 included): ingest trims every cell (SPEC §3), so matching needs no trimming here.
select
    platform,
    account_id,
    post_id,
    to_unixtime(published_at) as published_s,
    title,
    kind,
    repost_of,
    position,
    reads,
    wows,
    likes,
    comments,
    shares
from posts
