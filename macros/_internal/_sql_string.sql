{#- _sql_string(value): `value` as a SQL string literal of the adapter's dialect. Standard SQL (DuckDB,
    PostgreSQL, ...): quotes doubled, backslashes literal. Spark and Databricks: a backslash starts an escape in
    a string literal (an unknown one is dropped, `''` ends the literal), so backslashes and quotes are escaped
    with a backslash. Every literal the package's SQL builds from a value goes through here. -#}
{% macro _sql_string(value) %}
  {{ return(adapter.dispatch('_sql_string', 'dbt_hubspot_sync')(value)) }}
{% endmacro %}

{% macro default___sql_string(value) %}
  {{ return("'" ~ ((value | string) | replace("'", "''")) ~ "'") }}
{% endmacro %}

{% macro spark___sql_string(value) %}
  {{ return("'" ~ ((value | string) | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") }}
{% endmacro %}
