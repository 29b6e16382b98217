{#- The post-hook: `+post-hook: "{{ dbt_hubspot_sync.sync() }}"`.

    Emits nothing for a model that no `workflow: automatic` exposure depends on. Otherwise, per adapter:
    - DuckDB: calls the UDFs that the dbt-duckdb plugin `dbt_hubspot_sync.duckdb_plugin` registers; the rows reach
      Python as arguments (the hook's own connection is never re-entered) and are pushed during `dbt run`.
      Under `dbt build` (the model's tests run later in the same invocation) a gated sync is recorded pending
      instead, and the package's on-run-end (`push_after_tests`) pushes it once the tests passed.
    - any other adapter: records a pending sync inside the model's transaction, so it exists if and only if the
      model committed; `dbt-hubspot-sync run` or `sync --pending` pushes it (after its tests, under the gate).
    A pending sync names the tests it waits for: those of this invocation attached to the exposure's nodes. -#}
{% macro sync() %}
  {%- if not execute or model is not defined or model is none -%}{{ return('') }}{%- endif -%}
  {%- set syncs = dbt_hubspot_sync.automatic_syncs_for(model.unique_id) -%}
  {%- if syncs | length == 0 -%}{{ return('') }}{%- endif -%}
  {%- for s in syncs -%}
    {%- do s.update({'gate_tests': dbt_hubspot_sync.gate_tests_for(s.depends_on) if s.gate != 'none' else []}) -%}
  {%- endfor -%}
  {{ return(adapter.dispatch('sync', 'dbt_hubspot_sync')(syncs)) }}
{% endmacro %}

{#- [{name, meta, gate, depends_on}] of the exposures with workflow `automatic` (after vars defaults) that read
    this node. -#}
{% macro automatic_syncs_for(unique_id) %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {%- set defaults = defaults if defaults is mapping else {} -%}
  {%- set found = [] -%}
  {%- for exposure in graph.exposures.values() -%}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- set cfg = meta.get('hubspot_sync') -%}
    {%- if cfg is mapping and unique_id in exposure.depends_on.nodes
          and cfg.get('workflow', defaults.get('workflow', 'manual')) == 'automatic' -%}
      {%- do found.append({'name': exposure.name, 'meta': cfg, 'gate': cfg.get('gate', defaults.get('gate', 'tests')),
                           'depends_on': exposure.depends_on.nodes}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found | sort(attribute='name')) }}
{% endmacro %}

{#- The tests this invocation runs (`dbt build`; none under `dbt run`) on any of `nodes`: a generic test is on
    its attached node, a singular test on what it reads. -#}
{% macro gate_tests_for(nodes) %}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.unique_id in selected_resources -%}
    {%- set tested = [node.attached_node] if node.get('attached_node') else node.depends_on.nodes -%}
    {%- for n in tested if n in nodes and node.unique_id not in found -%}{%- do found.append(node.unique_id) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(found | sort) }}
{% endmacro %}

{% macro default__sync(syncs) %}
{{ dbt_hubspot_sync.record_pending(syncs) }}
{% endmacro %}

{#- Inserts the pending syncs of this model build (in the hook, so inside the model's transaction). -#}
{% macro record_pending(syncs) %}
{%- set schema = dbt_hubspot_sync.log_schema() -%}
{%- set pending = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_pending') -%}
{%- if adapter.get_relation(database=pending.database, schema=schema, identifier='hubspot_sync_pending') is none -%}
  {%- do dbt_hubspot_sync.create_log_tables(schema) -%}
{%- endif -%}
{%- for s in syncs %}
insert into {{ pending }} (pending_id, exposure_name, model_unique_id, relation, invocation_id, created_at, gate_tests)
values ('{{ invocation_id }}:{{ s.name }}', '{{ s.name }}', '{{ model.unique_id }}',
        '{{ this | string | replace("'", "''") }}', '{{ invocation_id }}', {{ dbt.current_timestamp() }},
        {{ dbt_hubspot_sync.sql_json(s.gate_tests) }});
{%- endfor %}
{% endmacro %}

{% macro duckdb__sync(syncs) %}
{%- set deferred = syncs | selectattr('gate_tests') | list -%}
{%- if deferred -%}
  {%- do log("dbt_hubspot_sync: the push of " ~ (deferred | map(attribute='name') | join(', ')) ~ " waits for "
             ~ (deferred[0].gate_tests | length) ~ " test(s) of " ~ model.name ~ " (gate: tests; pushed at on-run-end"
             ~ " if they pass)", info=True) -%}
{{ dbt_hubspot_sync.record_pending(deferred) }}
{%- endif %}
{{ dbt_hubspot_sync.duckdb_push_sql(this, model, syncs | rejectattr('gate_tests') | list) | join(';\n') }}
{% endmacro %}

{#- The statements that hand `relation`'s rows to the DuckDB plugin and finish each sync's run. -#}
{% macro duckdb_push_sql(relation, node, syncs) %}
{%- set statements = [] -%}
{%- if syncs | length == 0 -%}{{ return(statements) }}{%- endif -%}
{%- set columns = adapter.get_columns_in_relation(relation) -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set defaults = var('hubspot_sync', {}) -%}
{%- set defaults = defaults if defaults is mapping else {} -%}
{%- for s in syncs -%}
  {#- The email column as the relation spells it (exact name first, then case-insensitive). -#}
  {%- set wanted = (s.meta.get('email_column') or defaults.get('email_column') or '') | string -%}
  {%- set ns = namespace(email=none) -%}
  {%- for n in names if ns.email is none and n | lower == wanted | lower -%}{%- set ns.email = n -%}{%- endfor -%}
  {%- if wanted in names -%}{%- set ns.email = wanted -%}{%- endif -%}
  {%- set ctx = dbt_hubspot_sync.duckdb_sync_ctx(s, relation, node) -%}
  {%- do ctx.update({'columns': names, 'types': columns | map(attribute='dtype') | list}) -%}
  {%- set ctx_sql = dbt_hubspot_sync.sql_json(ctx) -%}
  {#- The state join only once the table exists (the plugin creates it at the first push). -#}
  {%- set state = adapter.get_relation(database=target.database, schema=dbt_hubspot_sync.log_schema(),
                                       identifier='hubspot_sync_state') -%}
  {%- if ns.email is not none -%}
    {%- set cast_columns = [] -%}
    {%- for c in names -%}{%- do cast_columns.append('cast(' ~ dbt_hubspot_sync.quote_identifier(c) ~ ' as varchar)') -%}{%- endfor -%}
    {%- do statements.append(
      'select sum(dbt_hubspot_sync_push(' ~ ctx_sql ~ ', hubspot_sync__email_raw, hubspot_sync__email_clean,'
      ~ ' hubspot_sync__rank, hubspot_sync__record_id, hubspot_sync__hash, [' ~ cast_columns | join(', ') ~ ']))'
      ~ ' from (' ~ dbt_hubspot_sync.sync_rows_query(relation, ns.email, names, state, s.name) ~ ') as hubspot_sync__hook') -%}
  {%- endif -%}
  {%- do statements.append('select dbt_hubspot_sync_finish(' ~ ctx_sql ~ ')') -%}
{%- endfor -%}
{{ return(statements) }}
{% endmacro %}

{#- What the DuckDB plugin needs to know about one sync of `node` (a plain mapping, passed as JSON). -#}
{% macro duckdb_sync_ctx(s, relation, node) %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {{ return({
        'exposure': s.name, 'meta': s.meta, 'vars': defaults if defaults is mapping else {},
        'model': node.unique_id, 'model_name': node.name, 'materialized': node.config.materialized,
        'relation': relation | string, 'invocation_id': invocation_id, 'target_schema': target.schema,
        'log_schema': dbt_hubspot_sync.log_schema(),
        'log_tables_ddl': dbt_hubspot_sync.log_tables_ddl(dbt_hubspot_sync.log_schema())}) }}
{% endmacro %}

{% macro log_schema() %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {{ return((defaults.get('log_schema') if defaults is mapping else none) or target.schema) }}
{% endmacro %}

{#- A value as a SQL string literal of its JSON. -#}
{% macro sql_json(value) %}
  {{ return("'" ~ (tojson(value) | replace("'", "''")) ~ "'") }}
{% endmacro %}
