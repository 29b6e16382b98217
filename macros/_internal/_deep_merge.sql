{#- _deep_merge(base, override): `override` wins; nested mappings merge key by key. The Jinja copy of
    `dbt_hubspot_sync.config.sync_config.deep_merge`. -#}
{% macro _deep_merge(base, override) %}
  {%- set out = {} -%}
  {%- do out.update(base) -%}
  {%- for key, value in override.items() -%}
    {%- if value is mapping and out.get(key) is mapping -%}
      {%- do out.update({key: dbt_hubspot_sync._deep_merge(out[key], value)}) -%}
    {%- else -%}
      {%- do out.update({key: value}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(out) }}
{% endmacro %}
