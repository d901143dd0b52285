"""Alerting: Prometheus-format rule files evaluated over the recent window, and the alert state machine.

Pure: rule files arrive as text, the window and the evaluation time as arguments. The service
(collector/services/alerts.py) reads files, keeps time, persists alerts and hands changes on.
"""

from __future__ import annotations

from collector.core.alerting.model import ActiveAlert, AlertChange, AlertState, fingerprint
from collector.core.alerting.state import Candidate, Step, advance

__all__ = ["ActiveAlert", "AlertChange", "AlertState", "Candidate", "Step", "advance", "fingerprint"]
