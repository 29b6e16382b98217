{#- _hubspot_vars(): vars.hubspot_sync as a mapping ({} when unset or not a mapping), the project-wide defaults
    every macro reads through this one helper. (Python validates the value: a non-mapping is a config error.) -#}
{% macro _hubspot_vars() %}
  {%- set defaults = var('hubspot_sync', {}) -%}
  {{ return(defaults if defaults is mapping else {}) }}
{% endmacro %}
