{#- _duckdb_push_sql(relation, node, syncs): the statements that hand `relation`'s rows to the DuckDB plugin's
    UDFs for each of `syncs`: `dbt_hubspot_sync_push_changes` over `sync_rows_query` with change detection (only
    the rows that need work, and the warehouse's counts of the rest), or before the first push (no state yet)
    `dbt_hubspot_sync_estimate` then `dbt_hubspot_sync_push` over every row; then `dbt_hubspot_sync_finish` with
    the model's row count. With change detection, the model's fingerprint goes to `dbt_hubspot_sync_steady`
    first, while the statements are rendered: a model unchanged since a settled run is not read again.
    Shared by `duckdb__sync` (push during `dbt run`) and `duckdb__push_after_tests` (push once the tests passed). -#}
{% macro _duckdb_push_sql(relation, node, syncs) %}
{%- set statements = [] -%}
{%- if syncs | length == 0 -%}{{ return(statements) }}{%- endif -%}
{%- set columns = adapter.get_columns_in_relation(relation) -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- for s in syncs -%}
  {#- The resolved email column (_sync_config) as the relation spells it (exact name first, then
      case-insensitive). Python checks it is the one its own plan reads (duckdb_plugin.py). -#}
  {%- set wanted = (s.config.get('email_column') or '') | string -%}
  {%- set ns = namespace(email=none) -%}
  {%- for n in names if ns.email is none and n | lower == wanted | lower -%}{%- set ns.email = n -%}{%- endfor -%}
  {%- if wanted in names -%}{%- set ns.email = wanted -%}{%- endif -%}
  {%- set ctx = dbt_hubspot_sync._duckdb_sync_ctx(s, relation, node) -%}
  {%- do ctx.update({'columns': names, 'types': columns | map(attribute='dtype') | list, 'email_column': ns.email}) -%}
  {%- set ctx_sql = dbt_hubspot_sync._sql_json(ctx) -%}
  {#- The state join only once the table exists (the plugin creates it at the first push). -#}
  {%- set state = adapter.get_relation(database=target.database, schema=dbt_hubspot_sync.log_schema(),
                                       identifier='hubspot_sync_state') -%}
  {%- set rejected = adapter.get_relation(database=target.database, schema=dbt_hubspot_sync.log_schema(),
                                          identifier='hubspot_sync_rejected') -%}
  {%- if ns.email is not none -%}
    {%- set cast_columns = [] -%}
    {%- for c in names -%}{%- do cast_columns.append('cast(' ~ dbt_hubspot_sync.quote_identifier(c) ~ ' as varchar)') -%}{%- endfor -%}
  {%- endif -%}
  {%- if ns.email is not none and state is not none and rejected is not none -%}
    {#- Change detection in the warehouse: one statement, only the rows that need work leave it, the guards
        from its counts (dbt_hubspot_sync/doors/hook_changes.py). The fingerprint covers every column of the relation
        (the mapping is resolved in Python), a superset of what `sync` fingerprints: a row pushed by the other
        door is looked at once more, never taken for unchanged. -#}
    {%- set known = "dbt_hubspot_sync_changes(" ~ ctx_sql ~ ")" -%}
    {%- set changes = {
        'salt_sql': "(select split_part(" ~ known ~ ", '|', 1))",
        'rules_sql': "(select split_part(" ~ known ~ ", '|', 2))",
        'trust_sql': "(select split_part(" ~ known ~ ", '|', 3) = 'true')",
        'log_all': s.config.get('log_records') == 'all', 'rejected_relation': rejected,
        'ship_all': s.config.get('list_mode') == 'mirror'} -%}
    {#- The steady mark (dbt_hubspot_sync/engine/steady.py): the model's fingerprint over every column, handed to
        the run before any row; 'mark' when the model is unchanged since the exposure's last run, whose mark's
        counts the run takes: the statement reading the rows is left out. -#}
    {%- set verdict = 'read' -%}
    {%- if execute -%}
      {%- set got = run_query('select dbt_hubspot_sync_steady(' ~ ctx_sql ~ ', (select [fingerprint_rows,'
                              ~ ' fingerprint_sum1, fingerprint_sum2, fingerprint_types] from ('
                              ~ dbt_hubspot_sync._model_fingerprint(relation, names) ~ ') as f))') -%}
      {%- set verdict = got.columns[0].values()[0] -%}
    {%- endif -%}
    {%- set extras = ['hubspot_sync__fingerprint', 'hubspot_sync__record_key', 'hubspot_sync__logged_outcome',
                      'hubspot_sync__logged_reason', 'hubspot_sync__kind', 'hubspot_sync__settled',
                      'cast(hubspot_sync__known as varchar)', 'cast(hubspot_sync__rows as varchar)'] -%}
    {%- if verdict != 'mark' -%}
    {%- do statements.append(
      'select sum(dbt_hubspot_sync_push_changes(' ~ ctx_sql ~ ', hubspot_sync__email_raw, hubspot_sync__email_clean,'
      ~ ' hubspot_sync__rank, hubspot_sync__record_id, hubspot_sync__hash, [' ~ cast_columns | join(', ') ~ '], ['
      ~ extras | join(', ') ~ ']))'
      ~ ' from (' ~ dbt_hubspot_sync.sync_rows_query(relation, ns.email, names, state, s.name, changes)
      ~ ') as hubspot_sync__hook') -%}
    {%- endif -%}
  {%- elif ns.email is not none -%}
    {#- The first push (no state yet): the guards' estimate
        first (every row classified, nothing sent), then the push: guards.py. -#}
    {%- for udf in ['dbt_hubspot_sync_estimate', 'dbt_hubspot_sync_push'] -%}
    {%- do statements.append(
      'select sum(' ~ udf ~ '(' ~ ctx_sql ~ ', hubspot_sync__email_raw, hubspot_sync__email_clean,'
      ~ ' hubspot_sync__rank, hubspot_sync__record_id, hubspot_sync__hash, [' ~ cast_columns | join(', ') ~ ']))'
      ~ ' from (' ~ dbt_hubspot_sync.sync_rows_query(relation, ns.email, names, state, s.name) ~ ') as hubspot_sync__hook') -%}
    {%- endfor -%}
  {%- endif -%}
  {#- The model's row count: the plugin fails a run whose push read fewer rows than the model has. -#}
  {%- do statements.append('select dbt_hubspot_sync_finish(' ~ ctx_sql ~ ', (select count(*) from ' ~ relation
                           ~ '))') -%}
{%- endfor -%}
{{ return(statements) }}
{% endmacro %}
