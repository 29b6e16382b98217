{#- The failed tests (and unit tests) on `unique_id` or any node upstream of it: why `dbt build` skipped it. -#}
{% macro _upstream_failed_tests(unique_id, results) %}
  {%- set ns = namespace(seen=[unique_id], frontier=[unique_id]) -%}
  {%- for _ in range(1000) if ns.frontier -%}
    {%- set parents = [] -%}
    {%- for n in ns.frontier -%}
      {%- for p in (((graph.nodes.get(n) or {}).get('depends_on') or {}).get('nodes') or []) if p not in ns.seen -%}
        {%- do ns.seen.append(p) -%}{%- do parents.append(p) -%}
      {%- endfor -%}
    {%- endfor -%}
    {%- set ns.frontier = parents -%}
  {%- endfor -%}
  {%- set failed = [] -%}
  {%- for r in results if r.node.resource_type in ('test', 'unit_test') and (r.status | string) in ('fail', 'error') -%}
    {%- set node = graph.nodes.get(r.node.unique_id) or {} -%}
    {%- if r.node.resource_type == 'unit_test' -%}  {#- not in the graph; it reads fixtures, not the model -#}
      {%- set tested = [r.node.tested_node_unique_id] -%}
    {%- else -%}
      {%- set tested = [node.attached_node] if node.get('attached_node') else r.node.depends_on.nodes -%}
    {%- endif -%}
    {%- for n in tested if n in ns.seen and r.node.unique_id not in failed -%}{%- do failed.append(r.node.unique_id) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(failed | sort) }}
{% endmacro %}
