{#- log_tables_ddl(schema): the statements that create the warehouse tables the product writes (runs, record log,
    state, pending syncs, the writer queue) in `schema` if missing, with cross-database types, and add the columns
    that came after the first release to tables an earlier version created. Returned, not run: `create_log_tables`
    runs them on the current connection, the DuckDB plugin on its own (it gets them in the hook's context).

    Spark (and Databricks): Spark's built-in table formats have no UPDATE or DELETE, so the tables whose rows
    change are kept append-only and the documented table is a view deriving the latest state in SQL:
      hubspot_sync_runs   = the latest of hubspot_sync_run_events (one row per status change) per run_id
      hubspot_sync_state  = the latest of hubspot_sync_state_versions per exposure and email, a version with a
                            NULL properties_hash (forgotten) hiding the contact (a remembered miss has a NULL
                            record_id and properties_hash 'not_found': state.py)
      hubspot_sync_pending  = the post-hook's rows (hubspot_sync_pending_builds) not done yet, with their latest
                            claim and kept test results; claims, releases, done and the kept test
                            results are rows of hubspot_sync_pending_events
    (dbt_hubspot_sync/tables/run_log.py, state.py, pending.py write them; the views keep the documented columns).
    On every adapter, hubspot_sync_rejected is a view of hubspot_sync_rejections (_rejected_view_sql.sql). -#}
{% macro log_tables_ddl(schema) %}
  {{ return(adapter.dispatch('log_tables_ddl', 'dbt_hubspot_sync')(schema)) }}
{% endmacro %}

{% macro default__log_tables_ddl(schema) %}
{%- set text = dbt.type_string() -%}
{%- set statements = ['create schema if not exists ' ~ dbt_hubspot_sync.quote_identifier(schema)] -%}
{%- for name, columns in dbt_hubspot_sync._log_table_columns().items() -%}
  {%- set relation = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
  {%- set defs = [] -%}
  {%- for c, type in columns -%}{%- do defs.append(c ~ ' ' ~ type) -%}{%- endfor -%}
  {%- do statements.append('create table if not exists ' ~ relation ~ ' (' ~ defs | join(', ') ~ ')') -%}
{%- endfor -%}
{#- Columns added after the tables first shipped: tables created by an earlier version gain them. -#}
{%- set added = [('hubspot_sync_runs', 'runner'), ('hubspot_sync_pending', 'gate_tests'), ('hubspot_sync_runs', 'import_ids'),
                 ('hubspot_sync_state', 'row_fingerprint'), ('hubspot_sync_checks', 'detail')] -%}
{%- for name, column in added -%}
  {%- set relation = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
  {%- do statements.append('alter table ' ~ relation ~ ' add column if not exists ' ~ column ~ ' ' ~ text) -%}
{%- endfor -%}
{%- for name, column, type in [('hubspot_sync_runs', 'list_removed', dbt.type_bigint())] -%}
  {%- set relation = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
  {%- do statements.append('alter table ' ~ relation ~ ' add column if not exists ' ~ column ~ ' ' ~ type) -%}
{%- endfor -%}
{%- set rel = {} -%}
{%- for name in ['hubspot_sync_rejected', 'hubspot_sync_rejections', 'hubspot_sync_runs'] -%}
  {%- do rel.update({name: api.Relation.create(database=target.database, schema=schema, identifier=name)}) -%}
{%- endfor -%}
{%- do statements.append(dbt_hubspot_sync._rejected_view_sql(rel['hubspot_sync_rejected'],
                                                             rel['hubspot_sync_rejections'], rel['hubspot_sync_runs'])) -%}
{{ return(statements) }}
{% endmacro %}

{% macro spark__log_tables_ddl(schema) %}
{%- set ts = dbt.type_timestamp() -%}
{%- set int = dbt.type_bigint() -%}
{%- set text = dbt.type_string() -%}
{%- set documented = dbt_hubspot_sync._log_table_columns() -%}
{#- (no database: on Spark the schema is the database) -#}
{%- set rel = {} -%}
{%- for name in ['hubspot_sync_runs', 'hubspot_sync_run_events', 'hubspot_sync_record_log', 'hubspot_sync_state',
                 'hubspot_sync_state_versions', 'hubspot_sync_pending', 'hubspot_sync_pending_builds',
                 'hubspot_sync_pending_events',
                 'hubspot_sync_writers', 'hubspot_sync_checks', 'hubspot_sync_imports',
                 'hubspot_sync_list_members', 'hubspot_sync_rejections', 'hubspot_sync_rejected'] -%}
  {%- do rel.update({name: api.Relation.create(schema=schema, identifier=name)}) -%}
{%- endfor -%}
{%- set tables = {
    'hubspot_sync_run_events': documented['hubspot_sync_runs'] + [('event_at', ts)],
    'hubspot_sync_record_log': documented['hubspot_sync_record_log'],
    'hubspot_sync_state_versions': documented['hubspot_sync_state'],
    'hubspot_sync_pending_builds': documented['hubspot_sync_pending'],
    'hubspot_sync_pending_events': [('pending_id', text), ('event', text), ('claimed_by', text),
                                    ('ticket', int), ('detail', text), ('event_at', ts)],
    'hubspot_sync_writers': documented['hubspot_sync_writers'],
    'hubspot_sync_checks': documented['hubspot_sync_checks'],
    'hubspot_sync_imports': documented['hubspot_sync_imports'],
    'hubspot_sync_list_members': documented['hubspot_sync_list_members'],
    'hubspot_sync_rejections': documented['hubspot_sync_rejections'],
} -%}
{%- set statements = ['create schema if not exists ' ~ dbt_hubspot_sync.quote_identifier(schema)] -%}
{%- for name, columns in tables.items() -%}
  {%- set defs = [] -%}
  {%- for c, type in columns -%}{%- do defs.append(c ~ ' ' ~ type) -%}{%- endfor -%}
  {#- No USING clause: the platform's default format (parquet on Apache Spark, Delta on Databricks). -#}
  {%- do statements.append('create table if not exists ' ~ rel[name] ~ ' (' ~ defs | join(', ') ~ ')') -%}
{%- endfor -%}
{#- Columns added after a table first shipped on Spark: Spark has no `add column if not exists`, so
    each is added only where the catalog shows it missing (before the views, which read them). -#}
{%- set added = [('hubspot_sync_run_events', 'import_ids', text), ('hubspot_sync_run_events', 'list_removed', int),
                 ('hubspot_sync_state_versions', 'row_fingerprint', text), ('hubspot_sync_checks', 'detail', text)] -%}
{%- for name, column, type in added if execute -%}
  {%- set existing = adapter.get_relation(database=none, schema=schema, identifier=name) -%}
  {%- if existing is not none and column not in (adapter.get_columns_in_relation(existing) | map(attribute='name') | list) -%}
    {%- do statements.append('alter table ' ~ rel[name] ~ ' add columns (' ~ column ~ ' ' ~ type ~ ')') -%}
  {%- endif -%}
{%- endfor -%}
{#- The documented tables as views of the latest version (replaced each time: a later release may change them). -#}
{%- set run_cols = documented['hubspot_sync_runs'] | map(attribute=0) | join(', ') -%}
{%- do statements.append(
    'create or replace view ' ~ rel['hubspot_sync_runs'] ~ ' as select ' ~ run_cols ~ ' from ('
    ~ 'select *, row_number() over (partition by run_id order by'
    ~ " case status when 'waiting' then 0 when 'running' then 1 else 2 end desc, event_at desc)"
    ~ ' as hubspot_sync__latest from ' ~ rel['hubspot_sync_run_events'] ~ ') as e where hubspot_sync__latest = 1') -%}
{%- set state_cols = documented['hubspot_sync_state'] | map(attribute=0) | join(', ') -%}
{%- do statements.append(
    'create or replace view ' ~ rel['hubspot_sync_state'] ~ ' as select ' ~ state_cols ~ ' from ('
    ~ 'select *, row_number() over (partition by exposure_name, email_clean order by synced_at desc,'
    ~ ' case when properties_hash is null then 0 else 1 end desc) as hubspot_sync__latest from '
    ~ rel['hubspot_sync_state_versions'] ~ ') as s where hubspot_sync__latest = 1 and properties_hash is not null') -%}
{%- set events = rel['hubspot_sync_pending_events'] -%}
{%- do statements.append(
    'create or replace view ' ~ rel['hubspot_sync_pending'] ~ ' as select b.pending_id, b.exposure_name,'
    ~ ' b.model_unique_id, b.relation, b.invocation_id, b.created_at, c.claimed_by, c.claimed_at, b.gate_tests,'
    ~ ' coalesce(g.detail, b.gate_results) as gate_results from ' ~ rel['hubspot_sync_pending_builds'] ~ ' as b'
    ~ ' left join (select distinct pending_id from ' ~ events ~ " where event = 'done') as d"
    ~ ' on d.pending_id = b.pending_id'
    ~ " left join (select pending_id, case when event = 'claimed' then claimed_by end as claimed_by,"
    ~ " case when event = 'claimed' then event_at end as claimed_at, row_number() over (partition by pending_id"
    ~ ' order by event_at desc) as hubspot_sync__latest from ' ~ events
    ~ " where event in ('claimed', 'released')) as c on c.pending_id = b.pending_id and c.hubspot_sync__latest = 1"
    ~ ' left join (select pending_id, detail, row_number() over (partition by pending_id order by event_at desc)'
    ~ ' as hubspot_sync__latest from ' ~ events ~ " where event = 'gate_results') as g"
    ~ ' on g.pending_id = b.pending_id and g.hubspot_sync__latest = 1 where d.pending_id is null') -%}
{%- do statements.append(dbt_hubspot_sync._rejected_view_sql(rel['hubspot_sync_rejected'],
                                                             rel['hubspot_sync_rejections'], rel['hubspot_sync_runs'])) -%}
{{ return(statements) }}
{% endmacro %}
