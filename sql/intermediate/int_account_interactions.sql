-- Interaction response (SPEC §5.2) per account: counts, rates, continuous percentiles of the
-- response time in hours, and the interaction veto.
with limits as (
    select * from int_message_limits
),

counts as (
    select
        platform,
        account_id,
        count(*) as messages,
        sum(case when replied then 1 else 0 end) as replied,
        sum(case when replied_on_time then 1 else 0 end) as replied_on_time,
        sum(case when pending then 1 else 0 end) as pending
    from limits
    group by platform, account_id
),

-- Continuous percentiles (linear interpolation between the two nearest ranks, as
-- percentile_cont defines them), computed exactly from ranks: DataFusion's own percentile_cont
-- interpolates with a precision of 1e-6, which moves 2-decimal values at the .xx5 boundary.
-- The ranks stream (one sort of the replied messages); the counts above say which ranks each
-- account needs, so only those rows are kept.
ranked as (
    select
        platform,
        account_id,
        cast(replied_s - received_s as double) as secs,
        row_number() over (partition by platform, account_id order by replied_s - received_s) - 1 as i
    from limits
    where replied
),

positions as (
    select platform, account_id, 0.5 * (replied - 1) as p50, 0.9 * (replied - 1) as p90
    from counts
    where replied > 0
),

needed as (
    select r.platform, r.account_id, r.secs, r.i, p.p50, p.p90
    from positions p
    join ranked r on r.platform = p.platform and r.account_id = p.account_id
    where r.i in (floor(p.p50), floor(p.p50) + 1, floor(p.p90), floor(p.p90) + 1)
),

response_hours as (
    select
        platform,
        account_id,
        (max(case when i = floor(p50) then secs end)
            + (max(p50) - floor(max(p50))) * (coalesce(max(case when i = floor(p50) + 1 then secs end), max(case when i = floor(p50) then secs end))
                                             - max(case when i = floor(p50) then secs end))) / 3600.0 as median_response_hours,
        (max(case when i = floor(p90) then secs end)
            + (max(p90) - floor(max(p90))) * (coalesce(max(case when i = floor(p90) + 1 then secs end), max(case when i = floor(p90) then secs end))
                                             - max(case when i = floor(p90) then secs end))) / 3600.0 as p90_response_hours
    from needed
    group by platform, account_id
),

joined as (
    select
        w.platform,
        w.account_id,
        w.graded,
        w.interaction_enabled,
        coalesce(c.messages, 0) as messages,
        coalesce(c.replied, 0) as replied,
        coalesce(c.replied_on_time, 0) as replied_on_time,
        coalesce(c.pending, 0) as pending,
        h.median_response_hours,
        h.p90_response_hours
    from int_account_windows w
    left join counts c on c.platform = w.platform and c.account_id = w.account_id
    left join response_hours h on h.platform = w.platform and h.account_id = w.account_id
)

select
    j.platform,
    j.account_id,
    j.messages,
    j.replied,
    j.replied_on_time,
    j.pending,
    j.messages - j.replied_on_time - j.pending as overdue,
    case when j.messages = 0 then null else cast(j.replied as double) / j.messages end as response_rate,
    case when j.messages - j.pending = 0 then null else cast(j.replied_on_time as double) / (j.messages - j.pending) end as on_time_rate,
    j.median_response_hours,
    j.p90_response_hours,
    -- Unregistered accounts have no register entry: only their answers count. Only messages whose
    -- limit has ended at C can veto: those not yet due may still be answered in time.
    coalesce(j.graded and (j.interaction_enabled = false
                           or (j.messages - j.pending >= rb.interaction_veto_min_messages and j.replied = 0)), false)
        as veto_interaction,
    coalesce(j.interaction_enabled = false, false) as interaction_disabled
from rubric rb
cross join joined j
