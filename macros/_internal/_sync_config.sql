{#- _sync_config(cfg): one exposure's configuration as the post-hook must know it: vars defaults < the selected
    data template < the exposure's `config.meta.hubspot_sync` (`cfg`), deep-merged, not validated (Python
    validates: a wrong value fails the push, which reports it). The Jinja copy of
    `dbt_hubspot_sync.config.sync_config.resolve_layers`, the only merge of the layers in the macros;
    tests/macros/test_rules_pinned.py holds it equal to Python for every key, from every layer. -#}
{% macro _sync_config(cfg) %}
  {%- set hubspot_vars = dbt_hubspot_sync._hubspot_vars() -%}
  {%- set base = {} -%}
  {%- for key, value in hubspot_vars.items() if key not in ('log_schema', 'templates') -%}
    {%- do base.update({key: value}) -%}
  {%- endfor -%}
  {%- set name = cfg.get('template', base.get('template')) -%}
  {%- set templates = hubspot_vars.get('templates') if hubspot_vars.get('templates') is mapping else {} -%}
  {%- set template = templates.get(name) if name is string and templates.get(name) is mapping else {} -%}
  {{ return(dbt_hubspot_sync._deep_merge(dbt_hubspot_sync._deep_merge(base, template), cfg)) }}
{% endmacro %}
