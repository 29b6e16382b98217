{#- The post-hook: `+post-hook: "{{ dbt_hubspot_sync.sync() }}"`.

    Emits nothing for a model that no `workflow: automatic` exposure depends on. Otherwise, per adapter:
    - DuckDB: calls the UDFs that the dbt-duckdb plugin `dbt_hubspot_sync.duckdb_plugin` registers; the rows reach
      Python as arguments (the hook's own connection is never re-entered) and are pushed during `dbt run`.
    - any other adapter: records a pending sync inside the model's transaction, so it exists if and only if the
      model committed; `dbt-hubspot-sync run` or `sync --pending` pushes it. -#}
{% macro sync() %}
  {%- if not execute or model is not defined or model is none -%}{{ return('') }}{%- endif -%}
  {%- set syncs = dbt_hubspot_sync.automatic_syncs_for(model.unique_id) -%}
  {%- if syncs | length == 0 -%}{{ return('') }}{%- endif -%}
  {{ return(adapter.dispatch('sync', 'dbt_hubspot_sync')(syncs)) }}
{% endmacro %}

{#- [{name, meta}] of the exposures with workflow `automatic` (after vars defaults) that read this node. -#}
{% macro automatic_syncs_for(unique_id) %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {%- set default_workflow = defaults.get('workflow', 'manual') if defaults is mapping else 'manual' -%}
  {%- set found = [] -%}
  {%- for exposure in graph.exposures.values() -%}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- set cfg = meta.get('hubspot_sync') -%}
    {%- if cfg is mapping and unique_id in exposure.depends_on.nodes
          and cfg.get('workflow', default_workflow) == 'automatic' -%}
      {%- do found.append({'name': exposure.name, 'meta': cfg}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found | sort(attribute='name')) }}
{% endmacro %}

{% macro default__sync(syncs) %}
{%- set schema = dbt_hubspot_sync.log_schema() -%}
{%- do dbt_hubspot_sync.create_log_tables(schema) -%}
{%- set pending = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_pending') -%}
{%- for s in syncs %}
insert into {{ pending }} (pending_id, exposure_name, model_unique_id, relation, invocation_id, created_at)
values ('{{ invocation_id }}:{{ s.name }}', '{{ s.name }}', '{{ model.unique_id }}',
        '{{ this | string | replace("'", "''") }}', '{{ invocation_id }}', {{ dbt.current_timestamp() }});
{%- endfor %}
{% endmacro %}

{% macro duckdb__sync(syncs) %}
{%- set columns = adapter.get_columns_in_relation(this) -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set types = columns | map(attribute='dtype') | list -%}
{%- set defaults = var('hubspot_sync', {}) -%}
{%- set defaults = defaults if defaults is mapping else {} -%}
{%- for s in syncs %}
  {#- The email column as the relation spells it (exact name first, then case-insensitive). -#}
  {%- set wanted = (s.meta.get('email_column') or defaults.get('email_column') or '') | string -%}
  {%- set ns = namespace(email=none) -%}
  {%- for n in names if ns.email is none and n | lower == wanted | lower -%}{%- set ns.email = n -%}{%- endfor -%}
  {%- if wanted in names -%}{%- set ns.email = wanted -%}{%- endif -%}
  {%- set ctx = {
        'exposure': s.name, 'meta': s.meta, 'vars': defaults,
        'model': model.unique_id, 'model_name': model.name, 'materialized': model.config.materialized,
        'relation': this | string, 'invocation_id': invocation_id, 'target_schema': target.schema,
        'log_schema': dbt_hubspot_sync.log_schema(), 'columns': names, 'types': types,
        'log_tables_ddl': dbt_hubspot_sync.log_tables_ddl(dbt_hubspot_sync.log_schema())} -%}
  {%- set ctx_sql = "'" ~ (tojson(ctx) | replace("'", "''")) ~ "'" -%}
  {#- The state join only once the table exists (the plugin creates it at the first push). -#}
  {%- set state = adapter.get_relation(database=target.database, schema=dbt_hubspot_sync.log_schema(),
                                       identifier='hubspot_sync_state') -%}
  {%- if ns.email is not none %}
select sum(dbt_hubspot_sync_push({{ ctx_sql }}, hubspot_sync__email_raw, hubspot_sync__email_clean,
    hubspot_sync__rank, hubspot_sync__record_id, hubspot_sync__hash,
    [{% for c in names %}cast({{ adapter.quote(c) }} as varchar){% if not loop.last %}, {% endif %}{% endfor %}]))
from ({{ dbt_hubspot_sync.sync_rows_query(this, ns.email, names, state, s.name) }}) as hubspot_sync__hook;
  {%- endif %}
select dbt_hubspot_sync_finish({{ ctx_sql }});
{%- endfor %}
{% endmacro %}

{% macro log_schema() %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {{ return((defaults.get('log_schema') if defaults is mapping else none) or target.schema) }}
{% endmacro %}
