"""The HubSpot sandbox: a local HTTP server that behaves like HubSpot's CRM API (stdlib only).

Used by the demo, the tests and users trying an exposure without a HubSpot account::

    from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(contacts=[{"email": "ada@example.com", "firstname": "Ada"}])) as sb:
        sb.url          # "http://127.0.0.1:<port>", set HUBSPOT_BASE_URL to it
        sb.contacts()   # [{"id": "1", "properties": {...}, "createdAt": ..., "updatedAt": ..., ...}]
        sb.stats()      # same JSON as GET /__sandbox__/stats

Command line: ``dbt-hubspot-sync sandbox [--port 8765] [--token T] [--contacts FILE.csv] ...`` (``cli.py``).

HubSpot endpoints (Bearer auth; 401 INVALID_AUTHENTICATION, 403 MISSING_SCOPES with requiredGranularScopes), in
every API version served (`versions`, default v3, 2026-03, 2026-09; others' paths answer 404), shown here in v3:
  POST  /crm/v3/objects/contacts/batch/read     idProperty email or record id; 207 grouped OBJECT_NOT_FOUND
                                                (2026-09: 200 carrying the errors, its spec has no 207)
  POST  /crm/v3/objects/contacts/batch/update   by id (or per-input idProperty email); whole-batch 400s for
                                                >100 inputs, duplicate ids, PROPERTY_DOESNT_EXIST,
                                                READ_ONLY_VALUE, INVALID_OPTION, INVALID_EMAIL; 207 for misses;
                                                2026-09: the portal rules of `required_when` (400
                                                MISSING_CONDITIONAL_REQUIRED_PROPERTY)
  POST  /crm/v3/objects/contacts/batch/upsert   by email, creates the unknown (`new` flag)
  POST  /crm/v3/objects/contacts/batch/create   201
  POST  /crm/v3/objects/contacts/search         filters, sorts, paging, 10,000 cap, 5/s (SECONDLY, no rate
                                                headers), results lagging writes by `search_lag_ms`
  GET   /crm/v3/objects/contacts/{id}           and PATCH; both take ?idProperty=email
  GET   /crm/v3/properties/contacts             HubSpot's default contact properties plus the CSV's columns
  POST  /crm/v3/lists, GET /crm/v3/lists/{id}, PUT .../memberships/add, /remove, /add-and-remove,
  GET   /crm/v3/lists/{id}/memberships          (250 a page)
  imports (imports.py)
Batch results are never in input order (clients must match them by id).

Rate limits: a rolling window per token (`rate_max` requests per `rate_window_ms`, every admitted request
counts, errors too; searches have their own `search_per_second`) and a daily count (`daily_max`, default
250,000); X-HubSpot-RateLimit-* headers on every authenticated non-search response; 429 bodies with policyName
TEN_SECONDLY_ROLLING, SECONDLY or DAILY. Faults (`faults="503:0.05,reset:0.02,slow:0.01"`, seeded by `seed`) hit
HubSpot paths only; a faulted request is not processed.

Admin endpoints (no auth, no limits, no faults): GET /__sandbox__/stats, GET /__sandbox__/contacts and
GET /__sandbox__/requests (``{"results": [...]}``), GET /__sandbox__/lists,
GET /__sandbox__/lists/{id}/members, POST /__sandbox__/reset (back to the initial contacts, no lists,
zeroed stats and limits); what happens in HubSpot between syncs: POST /__sandbox__/contacts
(``{"properties": {...}, "createdate": optional}``: a new contact, createdate now), POST
/__sandbox__/contacts/{id}/email (``{"email": ..., "keep_old": true}``: the old email kept in
hs_additional_emails), DELETE /__sandbox__/contacts/{id} and POST /__sandbox__/contacts/{id}/merge-into/{primary
id} (the old id is gone, its email finds the primary and is one of its hs_additional_emails).
"""

from dbt_hubspot_sync.sandbox.server import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
