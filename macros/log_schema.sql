{#- log_schema(): the schema of the product's tables: vars.hubspot_sync.log_schema when set and non-empty, else
    the target schema. Jinja's copy of `dbt_hubspot_sync.config.sync_config.log_schema_for` (the Python home of the rule),
    held equal to it by tests/macros/test_rules_pinned.py. -#}
{% macro log_schema() %}
  {{ return(adapter.dispatch('log_schema', 'dbt_hubspot_sync')()) }}
{% endmacro %}

{% macro default__log_schema() %}
  {{ return(dbt_hubspot_sync._hubspot_vars().get('log_schema') or target.schema) }}
{% endmacro %}
