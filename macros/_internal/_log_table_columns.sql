{#- _log_table_columns(): {table: [(column, SQL type)]} of the product's tables as the product documents them
    (hubspot_sync_runs, hubspot_sync_record_log, hubspot_sync_state, hubspot_sync_rejections (the events behind
    the hubspot_sync_rejected view: log_tables_ddl.sql), hubspot_sync_pending, hubspot_sync_writers,
    hubspot_sync_checks, hubspot_sync_imports, hubspot_sync_list_members),
    in cross-database types. Shared by every variant of `log_tables_ddl`. -#}
{% macro _log_table_columns() %}
{%- set text = dbt.type_string() -%}
{%- set ts = dbt.type_timestamp() -%}
{%- set int = dbt.type_bigint() -%}
{%- set tables = {
    'hubspot_sync_runs': [
        'run_id', 'invocation_id', 'exposure_name', 'relation', 'trigger', 'status', ('started_at', ts),
        ('finished_at', ts), ('rows_read', int), ('rows_invalid', int), ('rows_duplicate', int),
        ('rows_unchanged', int), ('rows_updated', int), ('rows_not_found', int), ('rows_failed', int),
        ('requests', int), ('retries', int), ('rate_limited', int), ('list_added', int), ('list_missing', int),
        ('list_removed', int), 'error', 'tool_version', 'runner', 'import_ids'],
    'hubspot_sync_record_log': [
        'run_id', 'exposure_name', 'email_raw', 'email_clean', 'outcome', 'reason_code', 'detail',
        ('http_status', int), ('logged_at', ts)],
    'hubspot_sync_state': [
        'exposure_name', 'email_clean', 'record_id', 'properties_hash', 'run_id', ('synced_at', ts),
        'row_fingerprint'],
    'hubspot_sync_rejections': [
        'exposure_name', 'record_key', 'email_raw', 'email_clean', 'outcome', 'reason_code', 'detail',
        ('http_status', int), 'rules_version', 'run_id', ('logged_at', ts)],
    'hubspot_sync_pending': [
        'pending_id', 'exposure_name', 'model_unique_id', 'relation', 'invocation_id', ('created_at', ts),
        'claimed_by', ('claimed_at', ts), 'gate_tests', 'gate_results'],
    'hubspot_sync_writers': [
        'exposure_name', 'run_id', 'phase', ('ticket', int), ('created_at', ts)],
    'hubspot_sync_checks': [
        'exposure_name', 'kind', ('checked_until', ts), 'run_id', ('recorded_at', ts), 'detail'],
    'hubspot_sync_imports': [
        'exposure_name', 'run_id', 'import_name', 'import_id', 'phase', 'file_path', ('file_rows', int), 'detail',
        ('logged_at', ts)],
    'hubspot_sync_list_members': [
        'exposure_name', 'list_id', 'record_id', 'event', 'run_id', ('event_at', ts)],
} -%}
{%- set typed = {} -%}
{%- for name, columns in tables.items() -%}
  {%- set cols = [] -%}
  {%- for c in columns -%}
    {%- do cols.append((c, text) if c is string else c) -%}
  {%- endfor -%}
  {%- do typed.update({name: cols}) -%}
{%- endfor -%}
{{ return(typed) }}
{% endmacro %}
