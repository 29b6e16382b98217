{#- _duckdb_sync_ctx(s, relation, node): what the DuckDB plugin (dbt_hubspot_sync/doors/duckdb_plugin.py) needs to know
    about one sync `s` of `node`, a plain mapping passed to its UDFs as JSON. Keys are the plugin's contract. -#}
{% macro _duckdb_sync_ctx(s, relation, node) %}
  {{ return({
        'exposure': s.name, 'meta': s.meta, 'vars': dbt_hubspot_sync._hubspot_vars(),
        'model': node.unique_id, 'model_name': node.name, 'materialized': node.config.materialized,
        'relation': relation | string, 'invocation_id': invocation_id, 'target_schema': target.schema,
        'log_schema': dbt_hubspot_sync.log_schema(),
        'log_tables_ddl': dbt_hubspot_sync.log_tables_ddl(dbt_hubspot_sync.log_schema())}) }}
{% endmacro %}
