"""The HubSpot sandbox: a local HTTP server that behaves like HubSpot's CRM API (stdlib only).

Used by the demo, the tests and users trying an exposure without a HubSpot account::

    from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(contacts=[{"email": "ada@example.com", "firstname": "Ada"}])) as sb:
        sb.url          # "http://127.0.0.1:<port>", set HUBSPOT_BASE_URL to it
        sb.contacts()   # [{"id": "1", "properties": {...}, "createdAt": ..., "updatedAt": ..., ...}]
        sb.stats()      # same JSON as GET /__sandbox__/stats

Command line: ``dbt-hubspot-sync sandbox [--port 8765] [--token T] [--contacts FILE.csv] ...`` (``cli.py``).

HubSpot endpoints (Bearer auth; 401 INVALID_AUTHENTICATION, 403 MISSING_SCOPES with requiredGranularScopes):
  POST  /crm/v3/objects/contacts/batch/read     idProperty email or record id; 207 grouped OBJECT_NOT_FOUND
  POST  /crm/v3/objects/contacts/batch/update   by id (or per-input idProperty email); whole-batch 400s for
                                                >100 inputs, duplicate ids, PROPERTY_DOESNT_EXIST,
                                                READ_ONLY_VALUE, INVALID_OPTION, INVALID_EMAIL; 207 for misses
  POST  /crm/v3/objects/contacts/batch/upsert   by email, creates the unknown (`new` flag)
  POST  /crm/v3/objects/contacts/batch/create   201
  GET   /crm/v3/objects/contacts/{id}           and PATCH; both take ?idProperty=email
  GET   /crm/v3/properties/contacts             HubSpot's default contact properties plus the CSV's columns
  POST  /crm/v3/lists, GET /crm/v3/lists/{id}, PUT /crm/v3/lists/{id}/memberships/add
Batch results are never in input order (clients must match them by id).

Rate limits: a rolling window per token (`rate_max` requests per `rate_window_ms`, every admitted request
counts, errors too) and a daily count (`daily_max`, default 250,000); X-HubSpot-RateLimit-* headers on every
authenticated response; 429 bodies with policyName TEN_SECONDLY_ROLLING or DAILY.
Faults (`faults="503:0.05,reset:0.02,slow:0.01"`, seeded by `seed`) hit HubSpot paths only; a faulted
request is not processed.

Admin endpoints (no auth, no limits, no faults): GET /__sandbox__/stats, GET /__sandbox__/contacts and
GET /__sandbox__/requests (``{"results": [...]}``), GET /__sandbox__/lists,
GET /__sandbox__/lists/{id}/members, POST /__sandbox__/reset (back to the initial contacts, no lists,
zeroed stats and limits); what users do in HubSpot's UI between syncs: DELETE /__sandbox__/contacts/{id} and
POST /__sandbox__/contacts/{id}/merge-into/{primary id} (the old id is gone, its email finds the primary).
"""

from .server import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
