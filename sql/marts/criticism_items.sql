-- The reasons to criticise (通报批评, SPEC §7): one row per reason, with a short Chinese
-- evidence sentence. Rows of unregistered accounts have no unit and criticise none. The category
-- and grade labels come from the rubric table, the platforms' names from the platforms table.
with params as (
    select * from params
),

accounts as (
    select * from int_account_scores
),

units as (
    select * from int_unit_scores
),

-- The no-update veto in the rubric's own terms (whole weeks as 周, else days).
no_update_rule as (
    select concat('监测时间点前',
        case when veto_no_update_days % 7 = 0
            then concat(cast(cast(veto_no_update_days / 7 as bigint) as varchar), '周')
            else concat(cast(veto_no_update_days as varchar), '天') end,
        '内无更新') as problem
    from rubric
),

no_update as (
    select unit_name, platform, account_id, account_name,
        rb.category_no_update as category,
        (select problem from no_update_rule) as problem,
        case
            when days_since_last_post is null then '截至监测时间点无任何发布记录'
            else concat('监测时间点前', cast(round(days_since_last_post + 1e-9, 2) as varchar), '天无更新')
        end as evidence
    from rubric rb
    cross join accounts
    where veto_no_update
),

content as (
    select unit_name, platform, account_id, account_name,
        rb.category_content as category,
        '严重表述错误或泄密' as problem,
        concat('本季度发现严重表述错误或泄密问题', cast(findings_serious as varchar), '条') as evidence
    from rubric rb
    cross join accounts
    where veto_content
),

interaction as (
    select unit_name, platform, account_id, account_name,
        rb.category_interaction as category,
        case when interaction_disabled then '未提供有效互动功能' else '互动回应差' end as problem,
        case
            when interaction_disabled then concat('台账登记互动功能为“否”；本季度收到留言', cast(messages as varchar), '条')
            else concat('本季度收到留言', cast(messages as varchar), '条，回复0条')
        end as evidence
    from rubric rb
    cross join accounts
    where veto_interaction
),

unfiled as (
    select unit_name, platform, account_id, account_name,
        rb.category_management as category,
        '账号未备案' as problem,
        case
            when not registered then concat('账号未纳入台账，本季度发布', cast(posts as varchar), '条')
            else concat(cast(opened_on as varchar), '开设，无开设备案记录')
        end as evidence
    from rubric rb
    cross join accounts
    where unfiled
),

duplicates as (
    select d.unit_name, d.platform, cast(null as varchar) as account_id, cast(null as varchar) as account_name,
        rb.category_management as category,
        '同一平台开设多个账号' as problem,
        concat('在', coalesce(n.platform_zh, d.platform), '开设', cast(d.extra_accounts + 1 as varchar), '个账号：', d.accounts) as evidence
    from rubric rb
    cross join int_unit_duplicates d
    left join platforms n on n.platform = d.platform
),

missed as (
    select a.unit_name,
        cast(null as varchar) as platform, cast(null as varchar) as account_id, cast(null as varchar) as account_name,
        rb.category_directives as category,
        '重要信息未在规定时限内转载' as problem,
        concat(cast(count(*) as varchar), '条重要信息未转载（', string_agg(a.directive_id, '、' order by a.directive_id), '）') as evidence
    from rubric rb
    cross join int_directive_assessments a
    where a.verdict = 'missed'
    group by a.unit_name, rb.missed_directives_for_criticism, rb.category_directives
    having count(*) >= rb.missed_directives_for_criticism
),

failing as (
    select unit_name,
        cast(null as varchar) as platform, cast(null as varchar) as account_id, cast(null as varchar) as account_name,
        rb.category_failing_grade as category,
        rb.category_failing_grade as problem,
        concat('综合得分', cast(round(score + 1e-9, 2) as varchar), '分') as evidence
    from rubric rb
    cross join units
    where grade = rb.grade_fail_label
),

items as (
    select * from no_update
    union all select * from content
    union all select * from interaction
    union all select * from unfiled
    union all select * from duplicates
    union all select * from missed
    union all select * from failing
)

select
    p.quarter,
    i.unit_name,
    i.platform,
    i.account_id,
    i.account_name,
    i.category,
    i.problem,
    i.evidence
from params p
cross join items i
