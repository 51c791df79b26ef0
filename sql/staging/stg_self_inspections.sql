-- Monthly self-inspection publications (SPEC §5.5), one row per unit and month (`YYYY-MM`).
select
    unit_name,
    month,
    published_on,
    url
from self_inspections
