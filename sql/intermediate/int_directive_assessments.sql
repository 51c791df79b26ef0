-- The reposting rule (SPEC §5.4; 12 hours unless the rubric's directive_deadline_hours or the
-- directive says otherwise): one row per directive published in Q and unit it applies to, with
-- when the unit reposted it and the verdict. Titles and ids were trimmed of Unicode
-- white space at ingest, so they compare as they are.
with params as (
    select * from params
),

quarter_directives as (
    select
        d.directive_id,
        d.title,
        d.source_platform,
        d.source_post_id,
        d.published_s,
        coalesce(d.deadline_hours, rb.directive_deadline_hours) as deadline_hours,
        d.units
    from params p
    cross join rubric rb
    cross join stg_directives d
    where d.published_s >= p.q_start_s and d.published_s < p.q_end_s
),

units as (
    select distinct unit_name from stg_registry where unit_name is not null
),

named as (
    select directive_id, trim(u) as unit_name
    from (select directive_id, unnest(string_to_array(units, '、')) as u from quarter_directives where units is not null)
),

targeted as (
    select d.directive_id, u.unit_name
    from quarter_directives d cross join units u
    where d.units is null
    union all
    select directive_id, unit_name from named
),

-- The unit whose account published the source post (none when that post is not in the warehouse).
source_unit as (
    select distinct d.directive_id, r.unit_name
    from quarter_directives d
    join stg_posts s on s.post_id = d.source_post_id and (d.source_platform is null or s.platform = d.source_platform)
    join stg_registry r on r.platform = s.platform and r.account_id = s.account_id
),

-- Units with at least one account whose window contains the directive's publication.
open_units as (
    select distinct d.directive_id, w.unit_name
    from quarter_directives d
    join int_account_windows w
      on w.registered and w.window_start_s <= d.published_s and d.published_s < w.window_end_s
),

applicable as (
    select t.directive_id, t.unit_name
    from targeted t
    join open_units o on o.directive_id = t.directive_id and o.unit_name = t.unit_name
    left join source_unit s on s.directive_id = t.directive_id and s.unit_name = t.unit_name
    where s.unit_name is null
),

-- Posts that repost a directive: by repost id or by title (two equi-joins, so that each is a
-- hash join on the small directives table), in [published_at, C], other than the source post.
matches as (
    select d.directive_id, p.platform, p.account_id, p.post_id, p.published_s
    from quarter_directives d
    join stg_posts p on p.repost_of = d.source_post_id
    union all
    select d.directive_id, p.platform, p.account_id, p.post_id, p.published_s
    from quarter_directives d
    join stg_posts p on p.title = d.title
),

-- The small side of each join comes first (the directives, then the register): the matching
-- posts, a million nationally, stream past them.
in_time as (
    select m.directive_id, m.platform, m.account_id, m.published_s
    from params prm
    cross join quarter_directives d
    join matches m on m.directive_id = d.directive_id
    where m.published_s >= d.published_s and m.published_s <= prm.c_s
      and not (m.post_id = d.source_post_id and (d.source_platform is null or m.platform = d.source_platform))
),

reposts as (
    select m.directive_id, r.unit_name, min(m.published_s) as reposted_s
    from stg_registry r
    join in_time m on m.platform = r.platform and m.account_id = r.account_id
    group by m.directive_id, r.unit_name
)

select
    a.directive_id,
    a.unit_name,
    d.published_s,
    d.deadline_hours,
    r.reposted_s,
    case when r.reposted_s is null then null else cast(r.reposted_s - d.published_s as double) / 3600.0 end as delay_hours,
    case
        when r.reposted_s is not null and r.reposted_s <= d.published_s + d.deadline_hours * 3600 then 'on_time'
        when r.reposted_s is not null then 'late'
        when d.published_s + d.deadline_hours * 3600 >= prm.c_s then 'not_yet_due'
        else 'missed'
    end as verdict
from params prm
cross join applicable a
join quarter_directives d on d.directive_id = a.directive_id
left join reposts r on r.directive_id = a.directive_id and r.unit_name = a.unit_name
