{#- An identifier quoted by the adapter, with its quote character doubled inside the name first (adapter.quote
    wraps without escaping, so a column named `a"b` would end the identifier early and break or inject SQL). -#}
{% macro quote_identifier(name) %}{{ return(adapter.dispatch('quote_identifier', 'dbt_hubspot_sync')(name)) }}{% endmacro %}

{% macro default__quote_identifier(name) %}
  {%- set q = adapter.quote('')[:1] -%}
  {{ return(adapter.quote(name | replace(q, q ~ q)) if q else adapter.quote(name)) }}
{% endmacro %}
