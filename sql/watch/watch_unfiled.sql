-- Accounts posting with no opening filing (开设备案, SPEC §5.7: int_account_filing's `unfiled`,
-- with posts in the window). A register account is due to be filed by the filing limit after it
-- opened (int_limit_days); an account missing from the register has no limit: at once.
with unfiled as (
    select w.unit_name, w.platform, w.account_id, w.account_name, w.registered, w.opened_on
    from int_account_windows w
    join int_account_filing f on f.platform = w.platform and f.account_id = w.account_id
    join int_account_posting p on p.platform = w.platform and p.account_id = w.account_id
    where f.unfiled and p.posts > 0
)

select
    u.unit_name,
    u.platform,
    u.account_id,
    u.account_name,
    'unfiled' as kind,
    '账号未备案' as problem,
    cast(null as varchar) as subject,
    cast(1 as bigint) as items,
    case when u.registered then lim.limit_end_s end as deadline_s,
    case
        when u.registered then concat('办理账号开设备案（', to_char(u.opened_on, '%Y-%m-%d'), '开设）')
        else '将账号纳入台账并办理开设备案'
    end as todo
from unfiled u
left join int_limit_days lim on lim.limit_kind = 'filing' and lim.date = u.opened_on
