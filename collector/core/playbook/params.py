"""Turning the values a caller gives (often strings from a command line) into typed parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.core.playbook.model import Parameter, Playbook

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
MAX_VALUE_LENGTH = 4096


class ParameterError(ValueError):
    """A parameter value that does not validate; ``name`` says which parameter."""

    def __init__(self, message: str, *, name: str = "") -> None:
        self.name = name
        super().__init__(message)


def coerce(param: Parameter, raw: Any) -> Any:
    """``raw`` as the parameter's type, checked against its pattern, choices and bounds."""
    value: Any
    if param.type == "bool":
        if isinstance(raw, bool):
            value = raw
        elif str(raw).strip().lower() in _TRUE | _FALSE:
            value = str(raw).strip().lower() in _TRUE
        else:
            raise ParameterError(f"{param.name}: expected true or false, got {raw!r}", name=param.name)
    elif param.type in {"int", "float"}:
        if isinstance(raw, bool):
            raise ParameterError(f"{param.name}: expected a number", name=param.name)
        try:
            value = int(str(raw).strip()) if param.type == "int" else float(str(raw).strip())
        except ValueError:
            message = f"{param.name}: expected {param.type}, got {raw!r}"
            raise ParameterError(message, name=param.name) from None
        if param.minimum is not None and value < param.minimum:
            raise ParameterError(f"{param.name}: must be at least {param.minimum:g}", name=param.name)
        if param.maximum is not None and value > param.maximum:
            raise ParameterError(f"{param.name}: must be at most {param.maximum:g}", name=param.name)
    else:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ParameterError(f"{param.name}: expected a string", name=param.name)
        value = str(raw)
        if len(value) > MAX_VALUE_LENGTH:
            raise ParameterError(f"{param.name}: longer than {MAX_VALUE_LENGTH} characters", name=param.name)
        if param.pattern is not None and not param.pattern.fullmatch(value):
            raise ParameterError(
                f"{param.name}: {value!r} does not match {param.pattern.pattern!r}", name=param.name
            )
    if param.choices and value not in param.choices:
        allowed = ", ".join(str(c) for c in param.choices)
        raise ParameterError(f"{param.name}: must be one of {allowed}", name=param.name)
    return value


def resolve_parameters(playbook: Playbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: the given one coerced, else its default; unknown names refused."""
    for name in given:
        if playbook.parameter(name) is None:
            known = ", ".join(p.name for p in playbook.parameters) or "none"
            message = f"{name}: {playbook.name} has no such parameter (it has: {known})"
            raise ParameterError(message, name=name)
    values: dict[str, Any] = {}
    for p in playbook.parameters:
        if p.name in given:
            values[p.name] = coerce(p, given[p.name])
        elif p.required and p.default is None:
            raise ParameterError(f"{p.name}: required", name=p.name)
        else:
            values[p.name] = p.default
    return values
