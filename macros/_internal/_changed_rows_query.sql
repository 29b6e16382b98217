{#- _changed_rows_query(relation, email_column, columns, state_relation, exposure, changes): change detection in
    the warehouse. The model is read once (a CTE computed once), and the result holds, in this order:

    1. `count` rows: how many model rows the warehouse settled itself, per outcome (hubspot_sync__settled:
       unchanged, invalid, duplicate, not_found) or left to the sync (`ship`), and whether they are rows of a
       contact the state knows by id (hubspot_sync__known), for the counters and the guards (guards.py); their
       hubspot_sync__fingerprint holds how many count rows there are (a reader that may see rows out of order,
       the DuckDB post-hook's UDF, knows when it has them all);
    2. `closed` rows: records logged rejected (hubspot_sync_rejected) that no longer are: their row left the
       model, or is now unchanged;
    3. `row` rows: the model rows that need work, as sync_rows_query returns them.

    After the columns of sync_rows_query: hubspot_sync__fingerprint, hubspot_sync__record_key,
    hubspot_sync__logged_outcome, hubspot_sync__logged_reason, hubspot_sync__kind, hubspot_sync__settled,
    hubspot_sync__known, hubspot_sync__rows.

    A row stays in the warehouse only when Python would give it the same outcome for the same reason:
    - unchanged: the row sent for its email (rank 1) has the fingerprint stored in hubspot_sync_state with the
      properties HubSpot was last sent (no remembered miss);
    - invalid, or a duplicate of a valid email: its record (cleaned email + rank) is logged so under the same
      validation rules (emails are validated in Python: the verdict is remembered with the record);
    - not_found: a remembered miss this run trusts (rechecks.py), logged so under the same rules;
    and, with log_records: all, an unchanged row only once it is logged unchanged (this CASE is
    dbt_hubspot_sync/engine/forecast.py's next_outcome too, pinned by tests/macros/test_forecast_case.py: change
    both). Everything else is shipped;
    with no `state_relation` (--full-refresh) or `changes.ship_all` (a mirrored list needs its whole audience)
    every row is, still with its record's logged outcome.

    The fingerprint is an md5 over each property column's value cast to text, length-prefixed (a NULL has no
    length, so NULL, '' and 'NULL' differ and no two value lists share an encoding), salted with what shapes
    what is sent: `changes.salt` (property names, null_as_empty, validation rules: changes.py) and the columns'
    types as the warehouse reports them (a type change resends the rows once; e.g. a timestamp and the string
    of its text would otherwise look alike). -#}
{% macro _changed_rows_query(relation, email_column, columns, state_relation, exposure, changes) %}
{%- set text = dbt.type_string() -%}
{%- set int = dbt.type_bigint() -%}
{%- set lit = dbt_hubspot_sync._sql_string -%}
{%- set q = dbt_hubspot_sync.quote_identifier -%}
{#- The salt: md5(changes.salt) then md5(the columns' types), as hex; the DuckDB post-hook passes the first as SQL
    (changes.salt_sql: its plan exists in Python only), so both doors compute the same fingerprints. -#}
{%- set types = local_md5(dbt_hubspot_sync._column_types(relation, columns) | join('|')) -%}
{%- set salt = changes.get('salt_sql') ~ ' || ' ~ lit(types) if changes.get('salt_sql') else lit(local_md5(changes.salt) ~ types) -%}
{%- set parts = [salt] -%}
{%- for c in columns -%}
  {%- set v = 'cast(m.' ~ q(c) ~ ' as ' ~ text ~ ')' -%}
  {%- do parts.append('coalesce(cast(length(' ~ v ~ ') as ' ~ text ~ ") || ':' || " ~ v ~ ", '~')") -%}
{%- endfor -%}
{%- set rules = changes.get('rules_sql') or lit(changes.rules) -%}
{%- set trust = changes.get('trust_sql') or ('true' if changes.trust_not_found else 'false') -%}
{%- set shipped = ['hubspot_sync__email_raw', 'hubspot_sync__email_clean', 'hubspot_sync__rank',
                   'hubspot_sync__record_id', 'hubspot_sync__hash'] -%}
{%- set model_cols = [] -%}
{%- for c in columns -%}{%- do shipped.append(q(c)) -%}{%- do model_cols.append(q(c)) -%}{%- endfor -%}
{%- do shipped.extend(['hubspot_sync__fingerprint', 'hubspot_sync__record_key', 'hubspot_sync__logged_outcome',
                       'hubspot_sync__logged_reason']) -%}
{#- A record logged rejected that no longer is (a `closed` row): its row left the model, or is now unchanged. -#}
{%- set closing = "x.hubspot_sync__settled = 'absent'" ~ ("" if changes.log_all else " or x.hubspot_sync__settled = 'unchanged'") -%}
with hubspot_sync__classified as {{ dbt_hubspot_sync._materialized() }} (
    {#- Narrow: a settled row keeps only its count's columns, and a closed one what its rejection's end needs
        (what is held in memory between the reads of this CTE grows with what changed, not with the model:
        ~250 MB at 1,000,000 rows when every row kept its record key, benchmarks/README.md). -#}
    select
        {%- for c in shipped %}
        {%- if c in ('hubspot_sync__record_key', 'hubspot_sync__logged_outcome', 'hubspot_sync__email_raw',
                     'hubspot_sync__email_clean') %}
        case when x.hubspot_sync__settled is null
                  or (x.hubspot_sync__logged_outcome is not null and ({{ closing }})) then x.{{ c }} end as {{ c }},
        {%- elif c == 'hubspot_sync__logged_reason' %}
        {#- A verdict logged under other validation rules reaches Python as RULES_CHANGED: it logs the record
            afresh under these (else a record logged so would be shipped again every run). #}
        case when x.hubspot_sync__settled is null then case when x.hubspot_sync__logged_rules is null
             or x.hubspot_sync__logged_rules = {{ rules }} then x.{{ c }} else 'RULES_CHANGED' end end as {{ c }},
        {%- else %}
        case when x.hubspot_sync__settled is null then x.{{ c }} end as {{ c }},
        {%- endif %}
        {%- endfor %}
        x.hubspot_sync__settled,
        x.hubspot_sync__known,
        x.hubspot_sync__in_model
    from (
    select
        w.*,
        case
            when w.hubspot_sync__in_model = 0 then 'absent'
            {%- if state_relation and not changes.get('ship_all') %}
            when w.hubspot_sync__logged_rules = {{ rules }} and (w.hubspot_sync__logged_outcome = 'invalid'
                 or (w.hubspot_sync__logged_outcome = 'duplicate' and w.hubspot_sync__logged_reason = 'DUPLICATE_EMAIL'))
                then w.hubspot_sync__logged_outcome
            when w.hubspot_sync__rank = 1 and w.hubspot_sync__record_id is null and w.hubspot_sync__hash = 'not_found'
                 and {{ trust }} and w.hubspot_sync__logged_rules = {{ rules }}
                 and w.hubspot_sync__logged_outcome = 'not_found' and w.hubspot_sync__logged_reason = 'OBJECT_NOT_FOUND'
                then 'not_found'
            when w.hubspot_sync__rank = 1 and w.hubspot_sync__hash <> 'not_found'
                 and w.hubspot_sync__state_fingerprint = w.hubspot_sync__fingerprint
                 {%- if changes.log_all %}
                 and w.hubspot_sync__logged_outcome = 'unchanged' and w.hubspot_sync__logged_reason = 'UNCHANGED'
                 {%- endif %}
                then 'unchanged'
            {%- endif %}
        end as hubspot_sync__settled,
        case when w.hubspot_sync__rank = 1 and w.hubspot_sync__record_id is not null then 1 else 0 end
            as hubspot_sync__known
    from (
        select
            m.*,
            {%- if state_relation %}
            st.record_id as hubspot_sync__record_id,
            st.properties_hash as hubspot_sync__hash,
            st.row_fingerprint as hubspot_sync__state_fingerprint,
            {%- else %}
            cast(null as {{ text }}) as hubspot_sync__record_id,
            cast(null as {{ text }}) as hubspot_sync__hash,
            cast(null as {{ text }}) as hubspot_sync__state_fingerprint,
            {%- endif %}
            md5({{ parts | join(' || ') }}) as hubspot_sync__fingerprint,
            coalesce(m.hubspot_sync__key, l.record_key) as hubspot_sync__record_key,
            l.outcome as hubspot_sync__logged_outcome,
            l.reason_code as hubspot_sync__logged_reason,
            l.rules_version as hubspot_sync__logged_rules,
            case when m.hubspot_sync__key is null then 0 else 1 end as hubspot_sync__in_model
        from (
            select
                ranked.*,
                coalesce('=' || hubspot_sync__email_clean, '!') || '#' || cast(hubspot_sync__rank as {{ text }})
                    as hubspot_sync__key
            from ({{ dbt_hubspot_sync._ranked_rows(relation, email_column, columns) }}) as ranked
        ) as m
        full outer join (
            select record_key, outcome, reason_code, rules_version from {{ changes.rejected_relation }}
            where exposure_name = {{ lit(exposure) }}
        ) as l
            on l.record_key = m.hubspot_sync__key
        {%- if state_relation %}
        left join {{ state_relation }} as st
            on st.exposure_name = {{ lit(exposure) }}
            and st.email_clean = m.hubspot_sync__email_clean
        {%- endif %}
    ) as w
    ) as x
)
select
    {#- Typed NULLs for the row columns: the model's own columns over a join that matches nothing. -#}
    {%- for c in shipped %}
    {%- if c == 'hubspot_sync__fingerprint' %}
    cast(count(*) over () as {{ text }}) as {{ c }},
    {%- else %}
    {{ 'src.' ~ c if c in model_cols else ('cast(null as ' ~ (int if c == 'hubspot_sync__rank' else text) ~ ')') }} as {{ c }},
    {%- endif %}
    {%- endfor %}
    cast('count' as {{ text }}) as hubspot_sync__kind,
    g.hubspot_sync__settled,
    g.hubspot_sync__known,
    g.hubspot_sync__rows
from (
    select coalesce(hubspot_sync__settled, 'ship') as hubspot_sync__settled, hubspot_sync__known,
        count(*) as hubspot_sync__rows
    from hubspot_sync__classified
    where hubspot_sync__in_model = 1
    group by coalesce(hubspot_sync__settled, 'ship'), hubspot_sync__known
) as g
left join {{ relation }} as src on 1 = 0
union all
select
    {%- for c in shipped %}
    c.{{ c }},
    {%- endfor %}
    cast('closed' as {{ text }}),
    c.hubspot_sync__settled,
    c.hubspot_sync__known,
    cast(null as {{ int }})
from hubspot_sync__classified as c
where c.hubspot_sync__logged_outcome is not null
    and ({{ closing | replace('x.', 'c.') }})
union all
select
    {%- for c in shipped %}
    c.{{ c }},
    {%- endfor %}
    cast('row' as {{ text }}),
    c.hubspot_sync__settled,
    c.hubspot_sync__known,
    cast(null as {{ int }})
from hubspot_sync__classified as c
where c.hubspot_sync__in_model = 1 and c.hubspot_sync__settled is null
{%- endmacro %}
