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

{#- The automatic syncs of the model this hook runs for ([] outside execution or a model's context), each with
    `gate_tests`: the tests it waits for (none with `gate: none`). -#}
{% macro _model_syncs() %}
  {%- if not execute or model is not defined or model is none -%}{{ return([]) }}{%- endif -%}
  {%- set syncs = dbt_hubspot_sync._automatic_syncs_for(model.unique_id) -%}
  {%- for s in syncs -%}
    {%- do s.update({'gate_tests': dbt_hubspot_sync._gate_tests_for(s.depends_on) if s.gate != 'none' else []}) -%}
  {%- endfor -%}
  {{ return(syncs) }}
{% endmacro %}

{#- The tests this invocation runs (`dbt build`; none under `dbt run`) on any of `nodes`: a generic test is on
    its attached node, a singular test on what it reads. -#}
{% macro _gate_tests_for(nodes) %}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.unique_id in selected_resources -%}
    {%- set tested = [node.attached_node] if node.get('attached_node') else node.depends_on.nodes -%}
    {%- for n in tested if n in nodes and node.unique_id not in found -%}{%- do found.append(node.unique_id) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(found | sort) }}
{% endmacro %}

{#- Inserts the pending syncs of this model build (in the hook, so inside the model's transaction where there is
    one): one statement, literals in the adapter's syntax (_sql_string). -#}
{% macro _record_pending(syncs, database, identifier='hubspot_sync_pending') %}
{%- set schema = dbt_hubspot_sync.log_schema() -%}
{%- set pending = api.Relation.create(database=database, schema=schema, identifier=identifier) -%}
{%- if adapter.get_relation(database=database, schema=schema, identifier=identifier) is none -%}
  {%- do dbt_hubspot_sync.create_log_tables(schema) -%}
{%- endif -%}
{%- set q = dbt_hubspot_sync._sql_string %}
insert into {{ pending }} (pending_id, exposure_name, model_unique_id, relation, invocation_id, created_at, gate_tests)
values
{%- for s in syncs %}
  ({{ q(invocation_id ~ ':' ~ s.name) }}, {{ q(s.name) }}, {{ q(model.unique_id) }}, {{ q(this | string) }},
   {{ q(invocation_id) }}, {{ dbt.current_timestamp() }}, {{ dbt_hubspot_sync._sql_json(s.gate_tests) }})
  {%- if not loop.last %},{% else %};{% endif %}
{%- endfor %}
{% endmacro %}
