{#- log_tables_ddl(schema): the statements that create the warehouse tables the product writes (runs, record log,
    state, pending syncs, the writer queue) in `schema` if missing, with cross-database types, and add the columns that came after
    the first release to tables an earlier version created. Returned, not run: `create_log_tables` runs them on
    the current connection, the DuckDB plugin on its own (it gets them in the hook's context). -#}
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
    'hubspot_sync_checks': [
        'exposure_name', 'kind', ('checked_until', ts), 'run_id', ('recorded_at', ts)],
    'hubspot_sync_writers': [
        'exposure_name', 'run_id', 'phase', ('ticket', int), ('created_at', ts)],
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
