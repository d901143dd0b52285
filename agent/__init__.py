"""upkeep-agent: health probes and checks on a customer host, pushed to the collector."""

__version__ = "0.1.0"
