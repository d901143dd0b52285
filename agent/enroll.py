"""`upkeep-agent enroll URL TOKEN`: trade an enrollment token for this host's own token.

The host token is stored 0600 in the state directory, and the collector URL beside it,
so the config file needs no ``collector.url`` (one given there still wins).
"""

from __future__ import annotations

import json

from agent.config import AgentConfig, as_url
from agent.errors import ConfigError, EnrollError
from agent.facts import host_facts
from agent.state import AgentState
from agent.transport import CollectorEndpoint


def enroll(cfg: AgentConfig, url: str, token: str) -> str:
    """POST /api/v1/enroll; on 201 store the host token and URL. Returns a line for the operator."""
    try:
        url = as_url(url)
    except ValueError as exc:
        raise ConfigError("url", str(exc)) from None
    state = AgentState(cfg.state_dir)
    endpoint = CollectorEndpoint(url, cfg.collector)
    body = json.dumps({"token": token, "agent_id": state.agent_id,
                       "facts": host_facts(cfg.ssh_host_keys_dir)}).encode()
    try:
        headers = {"Content-Type": "application/json"}
        status, _, answer = endpoint.request("POST", "/api/v1/enroll", body, headers)
    except OSError as exc:  # no answer, or not a valid HTTP one (transport.ResponseError)
        raise EnrollError(f"cannot reach {url}: {exc}") from None
    finally:
        endpoint.close()
    try:
        doc = json.loads(answer)
    except ValueError:
        doc = {}
    if status not in (200, 201):
        message = doc.get("error") if isinstance(doc, dict) else None
        raise EnrollError(f"{url} refused the enrollment (HTTP {status}): {message or 'no message'}",
                          status=status)
    if not isinstance(doc, dict) or not isinstance(doc.get("host_token"), str) or not doc["host_token"]:
        raise EnrollError(f"{url} answered {status} without a host_token", status=status)
    state.save_enrollment(url, doc["host_token"])
    return (f"enrolled as host {doc.get('host', '?')} (customer {doc.get('customer', '?')}); "
            f"token and collector URL stored in {state.root}")
