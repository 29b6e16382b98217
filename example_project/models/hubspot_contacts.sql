-- Shaped like HubSpot's audience setup query: quoted display names become property names
-- ("Amperity ID" -> amperity_id). Emails stay raw here: the sync cleans them with dbt_hubspot_sync.clean_email.
-- adapter.quote: "Amperity ID" on DuckDB and PostgreSQL, `Amperity ID` on Spark.
select
    amperity_id as {{ adapter.quote('Amperity ID') }},
    email as {{ adapter.quote('Email') }},
    first_name as {{ adapter.quote('firstname') }},
    last_name as {{ adapter.quote('lastname') }},
    lifetime_value as {{ adapter.quote('Lifetime Value') }},
    is_vip as {{ adapter.quote('Is VIP') }},
    last_order_date as {{ adapter.quote('Last Order Date') }}
from {{ ref('customer360') }}
