-- One account per platform per unit (SPEC §5.7): for each platform, n − 1 where n counts the
-- unit's register accounts on it that are in scope and not closed at C.
with open_accounts as (
    select unit_name, platform, account_id, account_name
    from int_account_windows
    where registered and graded and unit_name is not null
)

select
    unit_name,
    platform,
    count(*) - 1 as extra_accounts,
    string_agg(concat(coalesce(account_name, account_id), '（', account_id, '）'), '、' order by account_id) as accounts
from open_accounts
group by unit_name, platform
having count(*) > 1
