"""dbt-hubspot-sync: update existing HubSpot contacts from dbt models declared as exposures."""

__version__ = "0.1.0"
