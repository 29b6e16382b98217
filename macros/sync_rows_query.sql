{#- The query the sync streams: raw and cleaned email, the property columns, and the rank of the row among
    rows whose cleaned emails are equal (rank 1 is sent, the rest are duplicates). Cleanup and de-duplication
    run in the warehouse, so a warehouse that scales out carries large models. -#}
{% macro sync_rows_query(relation, email_column, columns) %}
  {{ return(adapter.dispatch('sync_rows_query', 'dbt_hubspot_sync')(relation, email_column, columns)) }}
{% endmacro %}

{% macro default__sync_rows_query(relation, email_column, columns) %}
{%- set email = adapter.quote(email_column) -%}
{%- set order_cols = [email] -%}
{%- for c in columns if c != email_column -%}{%- do order_cols.append(adapter.quote(c)) -%}{%- endfor -%}
select
    hubspot_sync__email_raw,
    hubspot_sync__email_clean,
    row_number() over (
        partition by hubspot_sync__email_clean
        order by {% for c in order_cols %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
    ) as hubspot_sync__rank
    {%- for c in columns %},
    {{ adapter.quote(c) }}
    {%- endfor %}
from (
    select
        src.*,
        cast({{ email }} as {{ dbt.type_string() }}) as hubspot_sync__email_raw,
        {{ dbt_hubspot_sync.clean_email('cast(' ~ email ~ ' as ' ~ dbt.type_string() ~ ')') }} as hubspot_sync__email_clean
    from {{ relation }} as src
) as hubspot_sync__rows
{% endmacro %}
