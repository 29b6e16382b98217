"""The configuration: an exposure's keys resolved over the vars defaults and its data template
(`sync_config.py`), planned against its relation's columns (`plan.py`), with HubSpot's property-name and value
rules (`properties.py`)."""
