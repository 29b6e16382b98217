{#- _automatic_syncs_for(unique_id): [{name, meta, gate, depends_on}] of the exposures with workflow `automatic`
    (after vars defaults) that read this node, sorted by name. Shared by `sync` (the post-hook) and
    `push_after_tests` (the on-run-end). The defaults of `workflow` and `gate` repeat SyncConfig's field defaults
    (`dbt_hubspot_sync.config.DEFAULT_WORKFLOW`, `DEFAULT_GATE`): tests/macros/test_rules_pinned.py holds them
    equal. -#}
{% macro _automatic_syncs_for(unique_id) %}
  {%- set defaults = dbt_hubspot_sync._hubspot_vars() -%}
  {%- set found = [] -%}
  {%- for exposure in graph.exposures.values() -%}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- set cfg = meta.get('hubspot_sync') -%}
    {%- if cfg is mapping and unique_id in exposure.depends_on.nodes -%}
      {#- vars defaults < the selected data template < the exposure, as config.parse_sync_config merges them. -#}
      {%- set tname = cfg.get('template', defaults.get('template')) -%}
      {%- set templates = defaults.get('templates') if defaults.get('templates') is mapping else {} -%}
      {%- set tpl = templates.get(tname) if tname and templates.get(tname) is mapping else {} -%}
      {%- if cfg.get('workflow', tpl.get('workflow', defaults.get('workflow', 'manual'))) == 'automatic' -%}
        {%- do found.append({'name': exposure.name, 'meta': cfg,
                             'gate': cfg.get('gate', tpl.get('gate', defaults.get('gate', 'tests'))),
                             'depends_on': exposure.depends_on.nodes}) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found | sort(attribute='name')) }}
{% endmacro %}
