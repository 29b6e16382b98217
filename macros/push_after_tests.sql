{#- push_after_tests(results): the package's own on-run-end (dbt runs the hooks of installed packages). Under
    `dbt build` on DuckDB, pushes each sync the post-hook deferred once the tests it waits for passed, and logs
    the others `failed` with `tests_failed` (also when dbt skipped the model after a failed test upstream).
    Other adapters: keeps the statuses of the tests each pending sync of this invocation waits for on its row,
    for `sync --pending` once run_results.json is gone (`dbt-hubspot-sync run` pushes as the tests finish). -#}
{% macro push_after_tests(results) %}
  {{ return(adapter.dispatch('push_after_tests', 'dbt_hubspot_sync')(results)) }}
{% endmacro %}

{% macro default__push_after_tests(results) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set built = [] -%}
  {%- for r in results if r.node.resource_type in ('model', 'seed', 'snapshot') and (r.status | string) == 'success' -%}
    {%- if dbt_hubspot_sync._automatic_syncs_for(r.node.unique_id) -%}{%- do built.append(r.node.unique_id) -%}{%- endif -%}
  {%- endfor -%}
  {%- if not built -%}{{ return('') }}{%- endif -%}
  {%- set statuses = {} -%}
  {%- for r in results -%}{%- do statuses.update({r.node.unique_id: r.status | string}) -%}{%- endfor -%}
  {%- set pending = api.Relation.create(database=target.database, schema=dbt_hubspot_sync.log_schema(),
                                        identifier='hubspot_sync_pending') -%}
  {%- set rows = run_query("select pending_id, gate_tests from " ~ pending ~ " where invocation_id = "
                           ~ dbt_hubspot_sync._sql_string(invocation_id)) -%}
  {%- set ns = namespace(wrote=false) -%}
  {%- for row in rows if row[1] and row[1] != '[]' -%}
    {%- set kept = {} -%}
    {%- for t in fromjson(row[1]) if t in statuses -%}{%- do kept.update({t: statuses[t]}) -%}{%- endfor -%}
    {#- In dbt's transaction (hooks run outside one), committed below. -#}
    {%- call statement('hubspot_sync_gate_results', auto_begin=true) -%}
      update {{ pending }} set gate_results = {{ dbt_hubspot_sync._sql_json(kept) }}
      where pending_id = {{ dbt_hubspot_sync._sql_string(row[0]) }}
    {%- endcall -%}
    {%- set ns.wrote = true -%}
  {%- endfor -%}
  {%- if ns.wrote -%}{%- do adapter.commit() -%}{%- endif -%}
  {{ return('') }}
{% endmacro %}

{#- Spark and Databricks: no UPDATE on Spark's own table formats: the kept statuses are a `gate_results` row of
    hubspot_sync_pending_events (pending.py reads the latest one); no `target.database`. -#}
{% macro spark__push_after_tests(results) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set built = [] -%}
  {%- for r in results if r.node.resource_type in ('model', 'seed', 'snapshot') and (r.status | string) == 'success' -%}
    {%- if dbt_hubspot_sync._automatic_syncs_for(r.node.unique_id) -%}{%- do built.append(r.node.unique_id) -%}{%- endif -%}
  {%- endfor -%}
  {%- if not built -%}{{ return('') }}{%- endif -%}
  {%- set statuses = {} -%}
  {%- for r in results -%}{%- do statuses.update({r.node.unique_id: r.status | string}) -%}{%- endfor -%}
  {%- set schema = dbt_hubspot_sync.log_schema() -%}
  {%- set pending = api.Relation.create(schema=schema, identifier='hubspot_sync_pending_builds') -%}
  {%- set events = api.Relation.create(schema=schema, identifier='hubspot_sync_pending_events') -%}
  {%- set rows = run_query("select pending_id, gate_tests from " ~ pending ~ " where invocation_id = "
                           ~ dbt_hubspot_sync._sql_string(invocation_id)) -%}
  {%- set values = [] -%}
  {%- for row in rows if row[1] and row[1] != '[]' -%}
    {%- set kept = {} -%}
    {%- for t in fromjson(row[1]) if t in statuses -%}{%- do kept.update({t: statuses[t]}) -%}{%- endfor -%}
    {%- do values.append('(' ~ dbt_hubspot_sync._sql_string(row[0]) ~ ", 'gate_results', "
                         ~ dbt_hubspot_sync._sql_json(kept) ~ ', ' ~ dbt.current_timestamp() ~ ')') -%}
  {%- endfor -%}
  {%- if values -%}
    {%- call statement('hubspot_sync_gate_results') -%}
      insert into {{ events }} (pending_id, event, detail, event_at) values {{ values | join(', ') }}
    {%- endcall -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{% macro duckdb__push_after_tests(results) %}
  {%- if not execute or results | length == 0 -%}{{ return('') }}{%- endif -%}
  {%- set statuses = {} -%}
  {%- for r in results -%}{%- do statuses.update({r.node.unique_id: r.status | string}) -%}{%- endfor -%}
  {%- set schema = dbt_hubspot_sync.log_schema() -%}
  {%- set pending = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_pending') -%}
  {#- Asked of the catalog: dbt's relation cache does not know a table a hook created. -#}
  {%- set exists = run_query("select count(*) from information_schema.tables where table_schema = "
                             ~ dbt_hubspot_sync._sql_string(schema)
                             ~ " and table_name = 'hubspot_sync_pending'").columns[0].values()[0] -%}
  {%- if exists -%}
    {%- set rows = run_query("select pending_id, exposure_name, model_unique_id, gate_tests from " ~ pending
                             ~ " where invocation_id = " ~ dbt_hubspot_sync._sql_string(invocation_id)
                             ~ " order by created_at") -%}
    {%- for row in rows -%}
      {%- set node = graph.nodes.get(row[2]) -%}
      {%- set syncs = dbt_hubspot_sync._automatic_syncs_for(row[2]) | selectattr('name', 'equalto', row[1]) | list -%}
      {%- if node is not none and syncs -%}
        {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set ctx = dbt_hubspot_sync._duckdb_sync_ctx(syncs[0], relation, node) -%}
        {%- do ctx.update({'gate_tests': fromjson(row[3] or '[]')}) -%}
        {%- set verdict = run_query('select dbt_hubspot_sync_gate(' ~ dbt_hubspot_sync._sql_json(ctx) ~ ', '
                                    ~ dbt_hubspot_sync._sql_json(statuses) ~ ')').columns[0].values()[0] -%}
        {%- if verdict == 'push' -%}
          {%- for statement in dbt_hubspot_sync._duckdb_push_sql(relation, node, syncs) -%}
            {%- do run_query(statement) -%}
          {%- endfor -%}
        {%- endif -%}
      {%- endif -%}
      {%- do run_query("delete from " ~ pending ~ " where pending_id = " ~ dbt_hubspot_sync._sql_string(row[0])) -%}
    {%- endfor -%}
  {%- endif -%}
  {%- for r in results if r.node.resource_type == 'model' and (r.status | string) == 'skipped' -%}
    {%- set syncs = dbt_hubspot_sync._automatic_syncs_for(r.node.unique_id) | rejectattr('gate', 'equalto', 'none') | list -%}
    {%- set failed = dbt_hubspot_sync._upstream_failed_tests(r.node.unique_id, results) if syncs else [] -%}
    {%- for s in syncs if failed -%}
      {%- set node = graph.nodes.get(r.node.unique_id) -%}
      {%- set relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
      {%- set ctx = dbt_hubspot_sync._duckdb_sync_ctx(s, relation, node) -%}
      {%- do ctx.update({'gate_tests': failed, 'skipped_model': node.name}) -%}
      {%- do run_query('select dbt_hubspot_sync_gate(' ~ dbt_hubspot_sync._sql_json(ctx) ~ ', '
                       ~ dbt_hubspot_sync._sql_json(statuses) ~ ')') -%}
    {%- endfor -%}
  {%- endfor -%}
  {#- run_query opened dbt's transaction on this connection: the deletes stand only once it commits. -#}
  {%- do adapter.commit() -%}
  {{ return('') }}
{% endmacro %}
