{#- _column_types(relation, columns): the data type of each of `columns` in `relation` (a Relation, or its
    rendered name as the runner passes it), as the adapter reports it ('' for a column it does not list). -#}
{% macro _column_types(relation, columns) %}
{%- if relation is string -%}
  {%- set parts = [] -%}
  {%- for p in relation.split('.') -%}{%- do parts.append(p.strip('"`')) -%}{%- endfor -%}
  {%- set relation = api.Relation.create(database=parts[-3] if parts | length >= 3 else none,
                                         schema=parts[-2] if parts | length >= 2 else none, identifier=parts[-1]) -%}
{%- endif -%}
{%- set types = {} -%}
{%- for c in adapter.get_columns_in_relation(relation) -%}{%- do types.update({c.name: c.dtype}) -%}{%- endfor -%}
{%- set out = [] -%}
{%- for c in columns -%}{%- do out.append(types.get(c, '') | string) -%}{%- endfor -%}
{{ return(out) }}
{% endmacro %}
