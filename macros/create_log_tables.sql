{#- create_log_tables(schema): runs `log_tables_ddl(schema)` on the current connection (idempotent). Called by the
    runner (`render("create_log_tables")`), by `ensure_log_tables` and by the post-hook before its first insert. -#}
{% macro create_log_tables(schema) %}
  {{ return(adapter.dispatch('create_log_tables', 'dbt_hubspot_sync')(schema)) }}
{% endmacro %}

{% macro default__create_log_tables(schema) %}
  {%- for ddl in dbt_hubspot_sync.log_tables_ddl(schema) -%}
    {%- call statement('hubspot_sync_ddl_' ~ loop.index) -%}{{ ddl }}{%- endcall -%}
  {%- endfor -%}
{% endmacro %}
