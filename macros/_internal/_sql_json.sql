{#- _sql_json(value): a value as a SQL string literal of its JSON (how the macros hand lists and mappings to the
    warehouse and to the DuckDB plugin's UDFs). -#}
{% macro _sql_json(value) %}
  {{ return("'" ~ (tojson(value) | replace("'", "''")) ~ "'") }}
{% endmacro %}
