{#- _model_fingerprint(relation, columns): one row that changes when the multiset of `columns`' values in
    `relation` does (engine/steady.py): the row count, two sums of a 64-bit hash of each row's values (differently
    salted: a change must collide in both to go unseen) and the columns' types as the warehouse reports them, each
    as text. One scan with no sort, join or string cleanup: what an unchanged model costs a run.

    Each adapter hashes with its own function; a fingerprint is only ever compared with one the same warehouse
    computed. Each distinguishes NULL from '' and keeps the columns' positions (DuckDB's hash() and a PostgreSQL
    row's text do; on Spark, whose hash skips NULLs, every column's null flag is hashed too). -#}
{% macro _model_fingerprint(relation, columns) %}
  {{ return(adapter.dispatch('_model_fingerprint', 'dbt_hubspot_sync')(relation, columns)) }}
{% endmacro %}

{% macro _model_fingerprint_select(relation, columns, sums) %}
{%- set text = dbt.type_string() -%}
{%- set types = local_md5(dbt_hubspot_sync._column_types(relation, columns) | join('|')) -%}
select
    cast(count(*) as {{ text }}) as fingerprint_rows,
    {%- for s in sums %}
    cast(coalesce(sum({{ s }}), 0) as {{ text }}) as fingerprint_sum{{ loop.index }},
    {%- endfor %}
    {{ dbt_hubspot_sync._sql_string(types) }} as fingerprint_types
from {{ relation }} as m
{%- endmacro %}

{% macro _quoted(columns) %}
{%- set out = [] -%}
{%- for c in columns -%}{%- do out.append(dbt_hubspot_sync.quote_identifier(c)) -%}{%- endfor -%}
{{ return(out) }}
{% endmacro %}

{% macro default___model_fingerprint(relation, columns) %}
{%- set cols = dbt_hubspot_sync._quoted(columns) | join(', ') -%}
{{ return(dbt_hubspot_sync._model_fingerprint_select(relation, columns,
          ['hash(' ~ cols ~ ')', 'hash(' ~ cols ~ ", 'hubspot_sync')"])) }}
{% endmacro %}

{% macro postgres___model_fingerprint(relation, columns) %}
{%- set cols = dbt_hubspot_sync._quoted(columns) | join(', ') -%}
{%- set row = '(row(' ~ cols ~ '))::text' -%}
{{ return(dbt_hubspot_sync._model_fingerprint_select(relation, columns,
          ['hashtextextended(' ~ row ~ ', 0)', 'hashtextextended(' ~ row ~ ', 1)'])) }}
{% endmacro %}

{% macro spark___model_fingerprint(relation, columns) %}
{%- set values = dbt_hubspot_sync._quoted(columns) -%}
{%- set flags = [] -%}
{%- for c in values -%}{%- do flags.append('isnull(' ~ c ~ ')') -%}{%- endfor -%}
{%- set cols = (values + flags) | join(', ') -%}
{{ return(dbt_hubspot_sync._model_fingerprint_select(relation, columns,
          ['cast(xxhash64(' ~ cols ~ ') as decimal(38, 0))',
           'cast(xxhash64(' ~ cols ~ ", 'hubspot_sync') as decimal(38, 0))"])) }}
{% endmacro %}
