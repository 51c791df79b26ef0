-- Where each unit sits (所属市, 所属区县), from the register's optional region columns: one row per
-- unit whose accounts name a city. A unit's accounts should all name the same region; when they do
-- not (a typo in one row of the 台账), the unit goes to the first city in sort order and, within
-- it, the first district its accounts name there, and the test in the .toml warns of it.
with register_rows as (
    select unit_name, city, district from stg_registry where unit_name is not null and city is not null
),

-- The regions (city, district) each unit's accounts name, each once: counted by a plain
-- aggregate, which is much cheaper than a distinct count per unit.
regions as (
    select distinct unit_name, city, coalesce(district, '') as district
    from register_rows
),

unit_city as (
    select unit_name, min(city) as city, count(*) as regions_named
    from regions
    group by unit_name
)

select
    c.unit_name,
    c.city,
    min(r.district) as district,
    c.regions_named
from unit_city c
join register_rows r on r.unit_name = c.unit_name and r.city = c.city
group by c.unit_name, c.city, c.regions_named
