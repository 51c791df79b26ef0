-- Every directive published in the quarter and unit it applies to: when the unit reposted it,
-- the delay in hours and the verdict (on_time, late, missed, not_yet_due).
with params as (
    select * from params
)

select
    p.quarter,
    a.directive_id,
    a.unit_name,
    a.deadline_hours,
    round(a.delay_hours + 1e-9, 2) as delay_hours,
    a.verdict
from params p
cross join int_directive_assessments a
