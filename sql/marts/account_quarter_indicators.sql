-- One row per in-scope account: the indicators of SPEC §5, the score and the grade (SPEC §6).
-- Columns of 2 decimals are rounded half away from zero in decimal terms: the 1e-9 nudge absorbs
-- binary floating-point error (33.575 is stored as 33.57499…, and must show as 33.58).
with params as (
    select * from params
),

scores as (
    select * from int_account_scores
)

select
    p.quarter,
    s.unit_name,
    s.unit_type,
    s.platform,
    s.account_id,
    s.account_name,
    s.registered,
    s.status,
    s.posts,
    s.original_posts,
    s.silent_weeks,
    round(s.longest_gap_days + 1e-9, 2) as longest_gap_days,
    round(s.days_since_last_post + 1e-9, 2) as days_since_last_post,
    s.veto_no_update,
    s.messages,
    s.replied,
    s.replied_on_time,
    s.pending,
    s.overdue,
    s.response_rate,
    s.on_time_rate,
    round(s.median_response_hours + 1e-9, 2) as median_response_hours,
    round(s.p90_response_hours + 1e-9, 2) as p90_response_hours,
    s.veto_interaction,
    s.followers_end,
    s.follower_growth,
    s.reads,
    s.wows,
    s.likes,
    s.comments,
    s.shares,
    round(s.reach_index + 1e-9, 2) as reach_index,
    round(s.reach_percentile + 1e-9, 2) as reach_percentile,
    s.findings_serious,
    s.findings_typo,
    s.findings_other,
    s.findings_uncorrected,
    s.veto_content,
    s.unfiled,
    s.late_filings,
    s.unannounced_closures,
    s.active_after_closure,
    s.score,
    s.grade,
    s.veto_reasons
from params p
cross join scores s
