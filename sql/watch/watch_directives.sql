-- Directives (重要信息转载要求, SPEC §5.4) a unit has not reposted: their window is still open at
-- the as-of point C, or closed within the watch's horizon before it. The verdicts are
-- int_directive_assessments'; directives published after C had not been issued at C.
with directive_titles as (
    select directive_id, title from stg_directives
),

open_or_just_closed as (
    select
        a.directive_id,
        a.unit_name,
        a.verdict,
        a.published_s + a.deadline_hours * 3600 as deadline_s,
        a.deadline_hours
    from params prm
    cross join watch_params wp
    cross join int_directive_assessments a
    where a.published_s <= prm.c_s
      and (a.verdict = 'not_yet_due'
           or (a.verdict = 'missed' and a.published_s + a.deadline_hours * 3600 > prm.c_s - wp.within_s))
)

select
    o.unit_name,
    cast(null as varchar) as platform,
    cast(null as varchar) as account_id,
    cast(null as varchar) as account_name,
    case when o.verdict = 'not_yet_due' then 'directive_open' else 'directive_missed' end as kind,
    case when o.verdict = 'not_yet_due' then '重要信息待转载' else '重要信息未按时转载' end as problem,
    o.directive_id as subject,
    cast(1 as bigint) as items,
    o.deadline_s,
    concat('转载重要信息《', coalesce(d.title, o.directive_id), '》（', o.deadline_hours, '小时内）') as todo
from open_or_just_closed o
left join directive_titles d on d.directive_id = o.directive_id
