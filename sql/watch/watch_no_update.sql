-- Accounts heading for the no-update veto (SPEC §5.1): not closed at the as-of point C, with a
-- last post at least `warn_no_update_days` (rubric) days before C, or none at all. The veto
-- applies once no post lies in the `veto_no_update_days` before the check point, so a post is
-- due by the last post + veto_no_update_days; an account that never posted is vetoed already
-- (no deadline: at once).
with accounts as (
    select
        w.unit_name,
        w.platform,
        w.account_id,
        w.account_name,
        w.closed_at_c,
        p.last_post_s,
        p.days_since_last_post
    from int_account_windows w
    join int_account_posting p on p.platform = w.platform and p.account_id = w.account_id
),

warned as (
    select a.*, rb.veto_no_update_days
    from params prm
    cross join rubric rb
    cross join accounts a
    where not a.closed_at_c
      and (a.last_post_s is null or prm.c_s - a.last_post_s >= rb.warn_no_update_days * 86400)
)

select
    unit_name,
    platform,
    account_id,
    account_name,
    'no_update' as kind,
    '逾期不更新' as problem,
    cast(null as varchar) as subject,
    cast(1 as bigint) as items,
    last_post_s + veto_no_update_days * 86400 as deadline_s,
    case
        when last_post_s is null then '发布信息（账号从未发布，已属监测时间点前无更新）'
        else concat('发布信息（已', cast(floor(days_since_last_post) as bigint), '天未更新，', veto_no_update_days, '天内无更新即单项否决）')
    end as todo
from warned
