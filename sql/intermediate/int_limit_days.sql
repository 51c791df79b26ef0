-- "The end of the Nth working day after d" (SPEC §3.9), for every calendar day d and each limit of
-- the rubric: `reply` (sla_working_days, §5.2), `filing` (filing_limit_working_days, §5.7) and
-- `finding` (finding_limit_working_days, §5.6). The working day whose ordinal is d's ordinal + N is
-- the limit day; it ends at limit_end_s. The models look a day's limit up here with one equi-join.
with limits as (
    select 'reply' as limit_kind, sla_working_days as n from rubric
    union all
    select 'filing' as limit_kind, filing_limit_working_days as n from rubric
    union all
    select 'finding' as limit_kind, finding_limit_working_days as n from rubric
)

select
    l.limit_kind,
    d.date,
    lim.date as limit_day,
    lim.day_start_s + 86400 as limit_end_s
from limits l
cross join stg_calendar_days d
join stg_calendar_days lim
  on lim.working_day_ordinal = d.working_day_ordinal + l.n
 and lim.is_working_day
