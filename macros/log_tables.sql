{#- The warehouse tables the product writes, created if missing with cross-database types.
    `log_tables_ddl` returns the statements (the DuckDB plugin runs them on its own connection);
    `create_log_tables` runs them on the current one. -#}
{% macro log_tables_ddl(schema) %}
  {{ return(adapter.dispatch('log_tables_ddl', 'dbt_hubspot_sync')(schema)) }}
{% endmacro %}

{% macro default__log_tables_ddl(schema) %}
{%- set text = dbt.type_string() -%}
{%- set ts = dbt.type_timestamp() -%}
{%- set int = dbt.type_bigint() -%}
{%- set tables = {
    'hubspot_sync_runs': [
        'run_id', 'invocation_id', 'exposure_name', 'relation', 'trigger', 'status', ('started_at', ts),
        ('finished_at', ts), ('rows_read', int), ('rows_invalid', int), ('rows_duplicate', int),
        ('rows_unchanged', int), ('rows_updated', int), ('rows_not_found', int), ('rows_failed', int),
        ('requests', int), ('retries', int), ('rate_limited', int), ('list_added', int), ('list_missing', int),
        'error', 'tool_version', 'runner'],
    'hubspot_sync_record_log': [
        'run_id', 'exposure_name', 'email_raw', 'email_clean', 'outcome', 'reason_code', 'detail',
        ('http_status', int), ('logged_at', ts)],
    'hubspot_sync_state': [
        'exposure_name', 'email_clean', 'record_id', 'properties_hash', 'run_id', ('synced_at', ts)],
    'hubspot_sync_pending': [
        'pending_id', 'exposure_name', 'model_unique_id', 'relation', 'invocation_id', ('created_at', ts),
        'claimed_by', ('claimed_at', ts), 'gate_tests', 'gate_results'],
} -%}
{%- set statements = ['create schema if not exists ' ~ dbt_hubspot_sync.quote_identifier(schema)] -%}
{%- for name, columns in tables.items() -%}
  {%- set relation = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
  {%- set defs = [] -%}
  {%- for c in columns -%}
    {%- if c is string -%}{%- do defs.append(c ~ ' ' ~ text) -%}{%- else -%}{%- do defs.append(c[0] ~ ' ' ~ c[1]) -%}{%- endif -%}
  {%- endfor -%}
  {%- do statements.append('create table if not exists ' ~ relation ~ ' (' ~ defs | join(', ') ~ ')') -%}
{%- endfor -%}
{#- Columns added after the tables first shipped: tables created by an earlier version gain them. -#}
{%- set added = [('hubspot_sync_runs', 'runner'), ('hubspot_sync_pending', 'gate_tests')] -%}
{%- for name, column in added -%}
  {%- set relation = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
  {%- do statements.append('alter table ' ~ relation ~ ' add column if not exists ' ~ column ~ ' ' ~ text) -%}
{%- endfor -%}
{{ return(statements) }}
{% endmacro %}

{% macro create_log_tables(schema) %}
  {%- for ddl in dbt_hubspot_sync.log_tables_ddl(schema) -%}
    {%- call statement('hubspot_sync_ddl_' ~ loop.index) -%}{{ ddl }}{%- endcall -%}
  {%- endfor -%}
{% endmacro %}

{#- on-run-start (this package's dbt_project.yml): in a project that declares at least one sync, make the log
    tables exist before any node runs, so the `dbt_hubspot_sync` sources and their tests resolve on the very
    first `dbt build`, before any sync has run. Idempotent DDL; nothing at all in projects without a sync. -#}
{% macro ensure_log_tables() %}
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
