{#- ensure_log_tables(): this package's on-run-start (dbt_project.yml). In a project that declares at least one
    sync, makes the log tables exist before any node runs, so the `dbt_hubspot_sync` sources and their tests
    resolve on the very first `dbt build`, before any sync has run. Idempotent DDL; nothing at all in projects
    without a sync. -#}
{% macro ensure_log_tables() %}
  {{ return(adapter.dispatch('ensure_log_tables', 'dbt_hubspot_sync')()) }}
{% endmacro %}

{% macro default__ensure_log_tables() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- for exposure in graph.exposures.values() -%}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- if meta.get('hubspot_sync') is mapping -%}
      {%- do dbt_hubspot_sync.create_log_tables(dbt_hubspot_sync.log_schema()) -%}
      {#- Hooks run outside a transaction and dbt rolls back what a hook's rendering left open: commit. -#}
      {%- do adapter.commit() -%}
      {{ return('') }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
