-- Content findings (SPEC §5.6): found in Q, by kind, and those not corrected by the end of the
-- `finding_limit_working_days`-th working day after they were found.
with params as (
    select * from params
),

found as (
    select f.*
    from params p
    cross join findings f
    where f.found_on >= p.q_start_date and f.found_on < p.q_end_date
),

limits as (
    select
        f.platform,
        f.account_id,
        f.kind,
        f.corrected_on,
        lim.date as limit_day,
        lim.day_start_s + 86400 as limit_end_s
    from (
        select f.*, d.working_day_ordinal + rb.finding_limit_working_days as limit_ordinal
        from rubric rb
        cross join found f
        join stg_calendar_days d on d.date = f.found_on
    ) f
    join stg_calendar_days lim on lim.working_day_ordinal = f.limit_ordinal and lim.is_working_day
)

select
    l.platform,
    l.account_id,
    sum(case when l.kind in ('serious_error', 'leak') then 1 else 0 end) as findings_serious,
    sum(case when l.kind = 'typo' then 1 else 0 end) as findings_typo,
    sum(case when l.kind in ('broken_link', 'other') then 1 else 0 end) as findings_other,
    sum(case when l.limit_end_s <= p.c_s and (l.corrected_on is null or l.corrected_on > l.limit_day) then 1 else 0 end)
        as findings_uncorrected
from params p
cross join limits l
group by l.platform, l.account_id
