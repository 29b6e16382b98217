{#-
  hubspot_property_name(name): the HubSpot property name for a column name, as a Jinja string (not SQL).
  Lowercase, and every character outside a-z, 0-9, _ becomes _ ("Amperity ID" -> "amperity_id").
  Jinja's copy of dbt_hubspot_sync.config.properties.hubspot_property_name, the rule's home (both use Python's
  str.lower and the same character class); tests/macros/test_rules_pinned.py holds them equal.
-#}
{% macro hubspot_property_name(name) %}
  {{- return(adapter.dispatch('hubspot_property_name', 'dbt_hubspot_sync')(name)) -}}
{% endmacro %}

{% macro default__hubspot_property_name(name) %}
  {{- return(modules.re.sub('[^a-z0-9_]', '_', (name | string) | lower)) -}}
{% endmacro %}
