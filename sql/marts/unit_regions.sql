-- The region of every ranked unit of the quarter (issue #16): what a city's or province's report
-- joins to unit_quarter_scores to say where a unit sits. Units without a region are absent.
with params as (
    select * from params
),

units as (
    select unit_name from int_unit_scores
),

regions as (
    select * from int_unit_regions
)

select
    p.quarter,
    u.unit_name,
    r.city,
    r.district
from params p
cross join units u
join regions r on r.unit_name = u.unit_name
