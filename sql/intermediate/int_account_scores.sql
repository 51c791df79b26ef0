-- Every in-scope account's indicators side by side, with its score and grade (SPEC §7).
with params as (
    select * from params
),

joined as (
    select
        w.platform,
        w.account_id,
        w.unit_name,
        w.unit_type,
        w.account_name,
        w.registered,
        w.graded,
        w.opened_on,
        po.status,
        po.posts,
        po.original_posts,
        po.silent_weeks,
        po.longest_gap_days,
        po.days_since_last_post,
        po.veto_no_update,
        i.messages,
        i.replied,
        i.replied_on_time,
        i.pending,
        i.overdue,
        i.response_rate,
        i.on_time_rate,
        i.median_response_hours,
        i.p90_response_hours,
        i.veto_interaction,
        i.interaction_disabled,
        r.followers_end,
        r.follower_growth,
        r.reads,
        r.wows,
        r.likes,
        r.comments,
        r.shares,
        r.reach_index,
        r.reach_percentile,
        coalesce(f.findings_serious, 0) as findings_serious,
        coalesce(f.findings_typo, 0) as findings_typo,
        coalesce(f.findings_other, 0) as findings_other,
        coalesce(f.findings_uncorrected, 0) as findings_uncorrected,
        (w.graded and coalesce(f.findings_serious, 0) > 0) as veto_content,
        fi.unfiled,
        fi.late_filings,
        fi.unannounced_closures,
        fi.active_after_closure
    from int_account_windows w
    join int_account_posting po on po.platform = w.platform and po.account_id = w.account_id
    join int_account_interactions i on i.platform = w.platform and i.account_id = w.account_id
    join int_account_reach r on r.platform = w.platform and r.account_id = w.account_id
    left join int_account_findings f on f.platform = w.platform and f.account_id = w.account_id
    join int_account_filing fi on fi.platform = w.platform and fi.account_id = w.account_id
),

raw_scores as (
    select
        j.*,
        (j.veto_no_update or j.veto_interaction or j.veto_content) as vetoed,
        100
            - least(j.silent_weeks * rb.silent_week_points, rb.silent_weeks_cap)
            - least(j.overdue * rb.overdue_message_points, rb.overdue_messages_cap)
            - least(j.findings_typo * rb.typo_points + j.findings_uncorrected * rb.uncorrected_finding_points, rb.findings_cap)
            - case when j.unfiled then rb.unfiled_points else 0 end
            + case when j.reach_percentile >= rb.reach_bonus_percentile then rb.reach_bonus_points else 0 end
            as raw_score
    from rubric rb
    cross join joined j
),

scored as (
    select
        s.*,
        case
            when not s.graded then null
            when s.vetoed then least(greatest(least(s.raw_score, 100), 0), rb.veto_score_cap)
            else greatest(least(s.raw_score, 100), 0)
        end as score
    from rubric rb
    cross join raw_scores s
),

-- Grades compare the score rounded to 4 places (SPEC §7), so that fractional rubric points summed
-- in floating point (100 − 4 × 0.1 − 0.2 = 99.39999999999999) grade as the decimal score (99.4).
-- The 1e-9 nudge rounds half away from zero in decimal terms; scores are never negative.
rounded as (
    select s.*, round(s.score + 1e-9, 4) as score_rounded
    from scored s
)

select
    s.*,
    case
        when s.score_rounded is null then null
        when s.score_rounded >= rb.grade_excellent then rb.grade_excellent_label
        when s.score_rounded >= rb.grade_good then rb.grade_good_label
        when s.score_rounded >= rb.grade_pass then rb.grade_pass_label
        else rb.grade_fail_label
    end as grade,
    nullif(concat_ws('；',
        -- Said in the rubric's own terms: whole weeks as 周, else days.
        case when s.veto_no_update then concat('监测时间点前',
            case when rb.veto_no_update_days % 7 = 0
                then concat(cast(cast(rb.veto_no_update_days / 7 as bigint) as varchar), '周')
                else concat(cast(rb.veto_no_update_days as varchar), '天') end,
            '内无更新') end,
        case when s.veto_interaction then '互动回应差' end,
        case when s.veto_content then '严重表述错误或泄密' end), '') as veto_reasons
from rubric rb
cross join rounded s
