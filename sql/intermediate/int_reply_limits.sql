-- For each calendar day, the reply limit of a public message received that day (SPEC §5.2): the
-- end of the `sla_working_days`-th working day after it. One row per day: the messages of a
-- quarter find their limit with one lookup in this small table.
select
    d.date,
    lim.day_start_s + 86400 as limit_end_s
from rubric rb
cross join stg_calendar_days d
join stg_calendar_days lim
  on lim.working_day_ordinal = d.working_day_ordinal + rb.sla_working_days
 and lim.is_working_day
