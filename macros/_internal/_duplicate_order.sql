{#- _duplicate_order(relation, properties): the `order by` list that picks which row of a duplicate email is sent
    (README "What happens to each row"): the raw email, then the property columns in send order, each ascending
    with NULLs last, text by code point. Said explicitly because the defaults differ: Spark puts NULLs first, and
    a PostgreSQL database's collation (e.g. en_US) puts 'a' before 'A'; DuckDB and Spark compare text by code
    point already. -#}
{% macro _duplicate_order(relation, properties) %}
  {{ return(adapter.dispatch('_duplicate_order', 'dbt_hubspot_sync')(relation, properties)) }}
{% endmacro %}

{% macro default___duplicate_order(relation, properties) %}
{%- set keys = ['hubspot_sync__email_raw'] -%}
{%- for c in properties -%}{%- do keys.append(dbt_hubspot_sync.quote_identifier(c)) -%}{%- endfor -%}
{{ keys | join(' nulls last, ') }} nulls last
{%- endmacro %}

{% macro postgres___duplicate_order(relation, properties) %}
{%- set types = dbt_hubspot_sync._column_types(relation, properties) -%}
{%- set keys = ['hubspot_sync__email_raw collate "C"'] -%}
{%- for c in properties -%}
  {%- set t = types[loop.index0] | lower -%}
  {%- set collate = ' collate "C"' if t in ('text', 'name') or t.startswith('character') or t.startswith('varchar')
                    or t.startswith('char') or t.startswith('bpchar') else '' -%}
  {%- do keys.append(dbt_hubspot_sync.quote_identifier(c) ~ collate) -%}
{%- endfor -%}
{{ keys | join(' nulls last, ') }} nulls last
{%- endmacro %}
