-- Public messages with received and replied instants in Unix seconds and the Beijing date of receipt
-- (as a date, and as a day number).
select
    platform,
    account_id,
    message_id,
    channel,
    to_unixtime(received_at) as received_s,
    to_unixtime(replied_at) as replied_s,
    CAST(to_timestamp_seconds(to_unixtime(received_at) + 28800) AS DATE) as received_on,
    -- The same day as a number (days from 1970-01-01, Beijing time: UTC+8 all year), for joins
    -- with the calendar by integer: arithmetic on the column, where the date above is a calendar
    -- conversion per message.
    cast(floor((to_unixtime(received_at) + 28800) / 86400.0) as bigint) as received_day
from interactions
