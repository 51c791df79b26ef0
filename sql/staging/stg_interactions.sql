-- Public messages with received and replied instants in Unix seconds and the Beijing date of receipt.
select
    platform,
    account_id,
    message_id,
    channel,
    to_unixtime(received_at) as received_s,
    to_unixtime(replied_at) as replied_s,
    CAST(to_timestamp_seconds(to_unixtime(received_at) + 28800) AS DATE) as received_on
from interactions
