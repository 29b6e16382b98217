{#- _automatic_syncs_for(unique_id): [{name, meta, config, gate, depends_on}] of the exposures with workflow
    `automatic` that read this node, sorted by name: `meta` is the exposure's own block (Python resolves it again,
    as every door does), `config` its resolved layers (`_sync_config`). Shared by `sync` (the post-hook) and
    `push_after_tests` (the on-run-end). The defaults of `workflow` and `gate` repeat SyncConfig's field defaults
    (`dbt_hubspot_sync.config.sync_config.DEFAULT_WORKFLOW`, `DEFAULT_GATE`): tests/macros/test_rules_pinned.py holds them
    equal. -#}
{% macro _automatic_syncs_for(unique_id) %}
  {%- set found = [] -%}
  {%- for exposure in graph.exposures.values() -%}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- set cfg = meta.get('hubspot_sync') -%}
    {%- if cfg is mapping and unique_id in exposure.depends_on.nodes -%}
      {%- set config = dbt_hubspot_sync._sync_config(cfg) -%}
      {%- if config.get('workflow', 'manual') == 'automatic' -%}
        {%- do found.append({'name': exposure.name, 'meta': cfg, 'config': config,
                             'gate': config.get('gate', 'tests'), 'depends_on': exposure.depends_on.nodes}) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found | sort(attribute='name')) }}
{% endmacro %}
