{#- _sql_json(value): a value as a SQL string literal of its JSON (how the macros hand lists and mappings to the
    warehouse and to the DuckDB plugin's UDFs), in the adapter's literal syntax (_sql_string). -#}
{% macro _sql_json(value) %}
  {{ return(dbt_hubspot_sync._sql_string(tojson(value))) }}
{% endmacro %}
