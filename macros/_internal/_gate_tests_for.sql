{#- The tests this invocation runs (`dbt build`; none under `dbt run`) on any of `nodes`: a generic test is on
    its attached node, a singular test on what it reads. -#}
{% macro _gate_tests_for(nodes) %}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.unique_id in selected_resources -%}
    {%- set tested = [node.attached_node] if node.get('attached_node') else node.depends_on.nodes -%}
    {%- for n in tested if n in nodes and node.unique_id not in found -%}{%- do found.append(node.unique_id) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(found | sort) }}
{% endmacro %}
