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
