-- Filing records (备案), one row per filed action.
select
    unit_name,
    platform,
    account_id,
    action,
    action_date,
    filed_on,
    announced_on
from filings
