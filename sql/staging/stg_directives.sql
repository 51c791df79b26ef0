-- Directives to repost (重要信息, SPEC §5.4), one row per directive, published in Unix seconds.
-- deadline_hours is as filed (NULL when the file gives none); units lists unit names joined by
-- `、`, NULL meaning every unit of the register.
select
    directive_id,
    title,
    source_platform,
    source_post_id,
    to_unixtime(published_at) as published_s,
    deadline_hours,
    units
from directives
