{#- _ranked_rows(relation, email_column, columns): the model's rows with the cleaned email and its duplicate rank
      hubspot_sync__email_raw, hubspot_sync__email_clean, hubspot_sync__rank (1: the row sent for its email)
    over every column of `relation`. The rank orders by the raw email then the property columns
    (_duplicate_order.sql: code-point order for text, NULLs last, on every adapter), so the same model ranks the
    same way every run and on every warehouse. Shared by sync_rows_query and _changed_rows_query. -#}
{% macro _ranked_rows(relation, email_column, columns) %}
{%- set text = dbt.type_string() -%}
{%- set email = dbt_hubspot_sync.quote_identifier(email_column) -%}
{%- set properties = columns | reject('equalto', email_column) | list -%}
    select
        cleaned.*,
        row_number() over (
            partition by hubspot_sync__email_clean
            order by {{ dbt_hubspot_sync._duplicate_order(relation, properties) }}
        ) as hubspot_sync__rank
    from (
        select
            src.*,
            cast({{ email }} as {{ text }}) as hubspot_sync__email_raw,
            {{ dbt_hubspot_sync.clean_email('cast(' ~ email ~ ' as ' ~ text ~ ')') }} as hubspot_sync__email_clean
        from {{ relation }} as src
    ) as cleaned
{%- endmacro %}
