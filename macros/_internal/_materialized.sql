{#- _materialized(): the keyword that makes a CTE read more than once be computed once (PostgreSQL 12+,
    DuckDB); Spark has none (it reuses the identical shuffle of both reads instead). -#}
{% macro _materialized() %}
  {{ return(adapter.dispatch('_materialized', 'dbt_hubspot_sync')()) }}
{% endmacro %}

{% macro default___materialized() %}{{ return('materialized') }}{% endmacro %}

{% macro spark___materialized() %}{{ return('') }}{% endmacro %}
