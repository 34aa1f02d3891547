"""Observability building blocks: rule builders, alert and AIOps rules, dashboards, Alertmanager and ELK config."""
