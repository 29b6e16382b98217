{#- _clean_email_canary(inputs): a query of (hubspot_sync__i, hubspot_sync__raw, hubspot_sync__clean) for each of
    `inputs` (strings or none): the values as the adapter's literals (_sql_string) and their `clean_email`, as
    the rows query cleans a column. dbt_hubspot_sync/checks/canary.py runs it before every run and compares the result
    with its Python reference. UNION ALL rather than VALUES: every warehouse reads it. -#}
{% macro _clean_email_canary(inputs) %}
{%- set text = dbt.type_string() -%}
{%- set rows = [] -%}
{%- for v in inputs -%}
  {%- set value = 'null' if v is none else dbt_hubspot_sync._sql_string(v) -%}
  {%- do rows.append('select ' ~ loop.index0 ~ ' as hubspot_sync__i, cast(' ~ value ~ ' as ' ~ text ~ ') as hubspot_sync__raw') -%}
{%- endfor -%}
{{ return('select hubspot_sync__i, hubspot_sync__raw, ' ~ dbt_hubspot_sync.clean_email('hubspot_sync__raw')
          ~ ' as hubspot_sync__clean from (' ~ rows | join(' union all ') ~ ') as hubspot_sync__canary') }}
{% endmacro %}
