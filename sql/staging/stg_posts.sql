-- Posts with their instant in Unix seconds and their title trimmed of Unicode white space.
select
    platform,
    account_id,
    post_id,
    to_unixtime(published_at) as published_s,
    regexp_replace(title, '^\s+|\s+$', '', 'g') as title,
    kind,
    regexp_replace(repost_of, '^\s+|\s+$', '', 'g') as repost_of,
    position,
    reads,
    wows,
    likes,
    comments,
    shares
from posts
