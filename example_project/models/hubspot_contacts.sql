-- Shaped like HubSpot's audience setup query: quoted display names become property names
-- ("Amperity ID" -> amperity_id). Emails stay raw here: the sync cleans them with dbt_hubspot_sync.clean_email.
select
    amperity_id as "Amperity ID",
    email as "Email",
    first_name as "firstname",
    last_name as "lastname",
    lifetime_value as "Lifetime Value",
    is_vip as "Is VIP",
    last_order_date as "Last Order Date"
from {{ ref('customer360') }}
