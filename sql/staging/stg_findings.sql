-- Content findings (inspection results, SPEC §5.6), one row per finding, with the start (00:00
-- Beijing time) of the day it was found in Unix seconds: a finding dated d was made from then on.
select
    platform,
    account_id,
    post_id,
    found_on,
    kind,
    corrected_on,
    note,
    to_unixtime(found_on) - 28800 as found_s
from findings
