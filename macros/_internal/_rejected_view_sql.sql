{#- _rejected_view_sql(view, events, runs): `hubspot_sync_rejected`, what is rejected now, per exposure and
    record (record_key: the cleaned email and its duplicate rank, macros/_internal/_changed_rows_query.sql): the
    latest event of hubspot_sync_rejections per record, unless it closed the rejection (outcome NULL: the record
    was updated, is unchanged, or left the model). first_seen_at is when this outcome and reason first appeared
    (a run logs a rejected record in hubspot_sync_record_log only then); last_seen_at the end of the exposure's
    latest run that read the model through (completed or completed_with_errors) since, which still found it. -#}
{% macro _rejected_view_sql(view, events, runs) %}
{{ return('create or replace view ' ~ view ~ ' as select e.exposure_name, e.record_key, e.email_raw, e.email_clean,'
    ~ ' e.outcome, e.reason_code, e.detail, e.http_status, e.rules_version, e.run_id as first_run_id,'
    ~ ' e.logged_at as first_seen_at, coalesce(r.last_seen_at, e.logged_at) as last_seen_at from ('
    ~ 'select exposure_name, record_key, email_raw, email_clean, outcome, reason_code, detail, http_status,'
    ~ ' rules_version, run_id, logged_at, row_number() over (partition by exposure_name, record_key'
    ~ ' order by logged_at desc) as hubspot_sync__latest from ' ~ events ~ ') as e'
    ~ ' left join (select exposure_name, max(finished_at) as last_seen_at from ' ~ runs
    ~ " where status in ('completed', 'completed_with_errors') group by exposure_name) as r"
    ~ ' on r.exposure_name = e.exposure_name and r.last_seen_at >= e.logged_at'
    ~ ' where e.hubspot_sync__latest = 1 and e.outcome is not null') }}
{% endmacro %}
