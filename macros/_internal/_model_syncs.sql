{#- The automatic syncs of the model this hook runs for ([] outside execution or a model's context), each with
    `gate_tests`: the tests it waits for (none with `gate: none`). -#}
{% macro _model_syncs() %}
  {%- if not execute or model is not defined or model is none -%}{{ return([]) }}{%- endif -%}
  {%- set syncs = dbt_hubspot_sync._automatic_syncs_for(model.unique_id) -%}
  {%- for s in syncs -%}
    {%- do s.update({'gate_tests': dbt_hubspot_sync._gate_tests_for(s.depends_on) if s.gate != 'none' else []}) -%}
  {%- endfor -%}
  {{ return(syncs) }}
{% endmacro %}
