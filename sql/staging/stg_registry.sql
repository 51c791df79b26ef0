-- The account register (台账), one row per account.
select
    platform,
    account_id,
    unit_name,
    unit_type,
    account_name,
    opened_on,
    state,
    coalesce(interaction_enabled, true) as interaction_enabled,
    -- The unit's region (所属市, 所属区县): optional, NULL in registers that do not carry it.
    city,
    district,
    case when opened_on is null then null else to_unixtime(opened_on) - 28800 end as opened_s
from registry
