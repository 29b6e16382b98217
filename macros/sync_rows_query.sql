{#- The query the sync streams, one row per model row:
      hubspot_sync__email_raw, hubspot_sync__email_clean,
      hubspot_sync__rank         1 for the row sent; >1 for rows whose cleaned email an earlier row has
      hubspot_sync__record_id,   from hubspot_sync_state (when `state_relation` is given): the contact's id and
      hubspot_sync__hash         the hash of the properties last sent successfully, else NULL
      <columns...>
    Cleanup, de-duplication and the state join run in the warehouse, so one that scales out carries large models.

    With `changes` (a dict, dbt_hubspot_sync/engine/changes.py builds it) the warehouse also detects what changed, and
    only the rows that need work leave it (_changed_rows_query.sql says which and how). -#}
{% macro sync_rows_query(relation, email_column, columns, state_relation=none, exposure=none, changes=none) %}
  {{ return(adapter.dispatch('sync_rows_query', 'dbt_hubspot_sync')(relation, email_column, columns,
                                                                     state_relation, exposure, changes)) }}
{% endmacro %}

{% macro default__sync_rows_query(relation, email_column, columns, state_relation=none, exposure=none, changes=none) %}
{%- if changes -%}
  {{ return(dbt_hubspot_sync._changed_rows_query(relation, email_column, columns, state_relation, exposure, changes)) }}
{%- endif -%}
{%- set text = dbt.type_string() -%}
select
    r.hubspot_sync__email_raw,
    r.hubspot_sync__email_clean,
    r.hubspot_sync__rank,
    {%- if state_relation %}
    st.record_id as hubspot_sync__record_id,
    st.properties_hash as hubspot_sync__hash
    {%- else %}
    cast(null as {{ text }}) as hubspot_sync__record_id,
    cast(null as {{ text }}) as hubspot_sync__hash
    {%- endif %}
    {%- for c in columns %},
    r.{{ dbt_hubspot_sync.quote_identifier(c) }}
    {%- endfor %}
from ({{ dbt_hubspot_sync._ranked_rows(relation, email_column, columns) }}) as r
{%- if state_relation %}
left join {{ state_relation }} as st
    on st.exposure_name = {{ dbt_hubspot_sync._sql_string(exposure) }}
    and st.email_clean = r.hubspot_sync__email_clean
{%- endif %}
{% endmacro %}
