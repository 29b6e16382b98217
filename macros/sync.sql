{#- sync(): the post-hook, `+post-hook: "{{ dbt_hubspot_sync.sync() }}"`.

    Emits nothing for a model that no `workflow: automatic` exposure depends on. Otherwise, per adapter:
    - DuckDB: calls the UDFs that the dbt-duckdb plugin `dbt_hubspot_sync.duckdb_plugin` registers; the rows reach
      Python as arguments (the hook's own connection is never re-entered) and are pushed during `dbt run`.
      Under `dbt build` (the model's tests run later in the same invocation) a gated sync is recorded pending
      instead, and the package's on-run-end (`push_after_tests`) pushes it once the tests passed.
    - any other adapter: records a pending sync inside the model's transaction, so it exists if and only if the
      model committed; `dbt-hubspot-sync run` or `sync --pending` pushes it (after its tests, under the gate).
    A pending sync names the tests it waits for: those of this invocation attached to the exposure's nodes. -#}
{% macro sync() %}
  {{ return(adapter.dispatch('sync', 'dbt_hubspot_sync')()) }}
{% endmacro %}

{% macro default__sync() %}
  {%- set syncs = dbt_hubspot_sync._model_syncs() -%}
  {%- if syncs | length == 0 -%}{{ return('') }}{%- endif %}
{{ dbt_hubspot_sync._record_pending(syncs, target.database) }}
{% endmacro %}

{#- Spark and Databricks: no transactions (the hook runs once the model's table is written, so the row still exists
    only if the model was built), no `target.database` (the schema is the database), one statement per hook, and
    the row goes to hubspot_sync_pending_builds (hubspot_sync_pending is a view there: log_tables_ddl). -#}
{% macro spark__sync() %}
  {%- set syncs = dbt_hubspot_sync._model_syncs() -%}
  {%- if syncs | length == 0 -%}{{ return('') }}{%- endif %}
{{ dbt_hubspot_sync._record_pending(syncs, none, 'hubspot_sync_pending_builds') }}
{% endmacro %}

{% macro duckdb__sync() %}
{%- set syncs = dbt_hubspot_sync._model_syncs() -%}
{%- if syncs | length == 0 -%}{{ return('') }}{%- endif -%}
{%- set deferred = syncs | selectattr('gate_tests') | list -%}
{%- if deferred -%}
  {%- do log("dbt_hubspot_sync: the push of " ~ (deferred | map(attribute='name') | join(', ')) ~ " waits for "
             ~ (deferred[0].gate_tests | length) ~ " test(s) of " ~ model.name ~ " (gate: tests; pushed at on-run-end"
             ~ " if they pass)", info=True) -%}
{{ dbt_hubspot_sync._record_pending(deferred, target.database) }}
{%- endif %}
{{ dbt_hubspot_sync._duckdb_push_sql(this, model, syncs | rejectattr('gate_tests') | list) | join(';\n') }}
{% endmacro %}
