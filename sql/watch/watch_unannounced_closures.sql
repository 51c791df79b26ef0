-- Closures (关停/注销) in the quarter never announced to the public (SPEC §5.7:
-- int_account_filing's `unannounced_closures`). The rules give no limit: announce at once.
select
    w.unit_name,
    w.platform,
    w.account_id,
    w.account_name,
    'unannounced_closure' as kind,
    '关停未公告' as problem,
    cast(null as varchar) as subject,
    f.unannounced_closures as items,
    cast(null as bigint) as deadline_s,
    '向社会发布账号关停（注销）公告' as todo
from int_account_windows w
join int_account_filing f on f.platform = w.platform and f.account_id = w.account_id
where f.unannounced_closures > 0
