-- One row per customer, as the identity-resolution step would produce it.
select
    amperity_id,
    first_name,
    last_name,
    email,
    phone,
    nullif(company, '') as company,
    cast(lifetime_value as decimal(12, 2)) as lifetime_value,
    is_vip,
    last_order_date,
    updated_at
from {{ ref('customers') }}
