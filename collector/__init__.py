"""upkeep's service-center side: ingest, rules, tickets, diagnosis, inspections."""

__version__ = "0.1.0"
