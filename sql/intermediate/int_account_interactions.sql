-- Interaction response (SPEC §5.2) per account: counts, rates, continuous percentiles of the
-- response time in hours, and the interaction veto. The messages are grouped per account on the
-- window's account number (account_no), an integer, and joined back to the windows by it.

-- The counts, and the continuous percentiles of the replied messages' response times (linear
-- interpolation between the two nearest ranks, SPEC §5.2), in one pass over the messages: a hash
-- aggregate per account that keeps each account's response times once, for both percentiles.
-- govmedia's percentile_cont interpolates exactly (src/engine/percentile.rs); DataFusion's own
-- rounds the weight to 1e-6, which moves 2-decimal values at the .xx5 boundary. The counts are
-- filtered counts (count(*) filter), which skip the CASE a sum of 1s and 0s evaluates per message.
with per_account as (
    select
        account_no,
        count(*) as messages,
        count(*) filter (where replied) as replied,
        count(*) filter (where replied_on_time) as replied_on_time,
        count(*) filter (where pending) as pending,
        -- Both percentiles from one list of the account's response times (seconds): [median, p90].
        percentile_cont([0.5, 0.9]) within group (order by cast(replied_s - received_s as double)) filter (where replied)
            as response_s
    from int_message_limits
    group by account_no
),

joined as (
    select
        w.platform,
        w.account_id,
        w.graded,
        w.interaction_enabled,
        coalesce(a.messages, 0) as messages,
        coalesce(a.replied, 0) as replied,
        coalesce(a.replied_on_time, 0) as replied_on_time,
        coalesce(a.pending, 0) as pending,
        a.response_s[1] / 3600.0 as median_response_hours,
        a.response_s[2] / 3600.0 as p90_response_hours
    from int_account_windows w
    left join per_account a on a.account_no = w.account_no
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
