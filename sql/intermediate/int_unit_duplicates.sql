-- One account per platform per unit (SPEC §5.7): for each platform, n − 1 where n counts the
-- unit's register accounts on it that are in scope and not closed at C.
with open_accounts as (
    select unit_name, platform, account_id, account_name
    from int_account_windows
    where registered and graded and unit_name is not null
),

-- The (unit, platform) pairs with more than one account: few, so the names are listed for them only.
duplicated as (
    select unit_name, platform, count(*) - 1 as extra_accounts
    from open_accounts
    group by unit_name, platform
    having count(*) > 1
)

select
    d.unit_name,
    d.platform,
    d.extra_accounts,
    string_agg(concat(coalesce(a.account_name, a.account_id), '（', a.account_id, '）'), '、' order by a.account_id) as accounts
from duplicated d
join open_accounts a on a.unit_name = d.unit_name and a.platform = d.platform
group by d.unit_name, d.platform, d.extra_accounts
