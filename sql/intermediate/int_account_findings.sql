-- Content findings (SPEC §5.6): found in Q before C (a finding dated on a day whose 00:00 is at
-- or after C had not been made at C), by kind, and those not corrected by the end of the
-- `finding_limit_working_days`-th working day after they were found.
with params as (
    select * from params
),

found as (
    select f.*
    from params p
    cross join stg_findings f
    where f.found_on >= p.q_start_date and f.found_on < p.q_end_date
      and f.found_s < p.c_s
),

limits as (
    select
        f.platform,
        f.account_id,
        f.kind,
        f.corrected_on,
        lim.limit_day,
        lim.limit_end_s
    from found f
    join int_limit_days lim on lim.limit_kind = 'finding' and lim.date = f.found_on
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
