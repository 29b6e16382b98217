{#- The three warehouse tables the product writes, created if missing with cross-database types. -#}
{% macro create_log_tables(schema) %}
  {{ return(adapter.dispatch('create_log_tables', 'dbt_hubspot_sync')(schema)) }}
{% endmacro %}

{% macro default__create_log_tables(schema) %}
{%- set text = dbt.type_string() -%}
{%- set ts = dbt.type_timestamp() -%}
{%- set int = dbt.type_bigint() -%}
{%- do adapter.create_schema(api.Relation.create(database=target.database, schema=schema)) -%}
{%- set runs = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_runs') -%}
{%- set records = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_record_log') -%}
{%- set state = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_state') -%}
{%- set pending = api.Relation.create(database=target.database, schema=schema, identifier='hubspot_sync_pending') -%}
{% call statement('create_hubspot_sync_runs') %}
create table if not exists {{ runs }} (
    run_id {{ text }}, invocation_id {{ text }}, exposure_name {{ text }}, relation {{ text }}, trigger {{ text }},
    status {{ text }}, started_at {{ ts }}, finished_at {{ ts }},
    rows_read {{ int }}, rows_invalid {{ int }}, rows_duplicate {{ int }}, rows_unchanged {{ int }},
    rows_updated {{ int }}, rows_not_found {{ int }}, rows_failed {{ int }},
    requests {{ int }}, retries {{ int }}, rate_limited {{ int }}, list_added {{ int }}, list_missing {{ int }},
    error {{ text }}, tool_version {{ text }}
)
{% endcall %}
{% call statement('create_hubspot_sync_record_log') %}
create table if not exists {{ records }} (
    run_id {{ text }}, exposure_name {{ text }}, email_raw {{ text }}, email_clean {{ text }}, outcome {{ text }},
    reason_code {{ text }}, detail {{ text }}, http_status {{ int }}, logged_at {{ ts }}
)
{% endcall %}
{% call statement('create_hubspot_sync_state') %}
create table if not exists {{ state }} (
    exposure_name {{ text }}, email_clean {{ text }}, record_id {{ text }}, properties_hash {{ text }},
    run_id {{ text }}, synced_at {{ ts }}
)
{% endcall %}
{% call statement('create_hubspot_sync_pending') %}
create table if not exists {{ pending }} (
    pending_id {{ text }}, exposure_name {{ text }}, model_unique_id {{ text }}, relation {{ text }},
    invocation_id {{ text }}, created_at {{ ts }}, claimed_by {{ text }}, claimed_at {{ ts }}
)
{% endcall %}
{% endmacro %}
