"""Rule label and annotation templates: the part of Go's text/template that Prometheus rules use.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``;
pipelines (``{{ $value | humanize }}``); ``{{ if }}``/``{{ else if }}``/``{{ else }}``/``{{ end }}``;
variables ``$labels``, ``$value``, ``$externalLabels``, ``$externalURL`` and ``$x := ...``; fields
``.Labels.host``, ``$labels.host``; Go's builtins (and or not len index print printf println eq
ne lt le gt ge urlquery) and Prometheus' functions (humanize, humanize1024, humanizeDuration,
humanizePercentage, humanizeTimestamp, title, toUpper, toLower, match, reReplaceAll, safeHtml,
stripPort, stripDomain, parseDuration, externalURL, pathPrefix).

A template is parsed once, when its rule file loads (an unknown function is refused there), and
rendered by walking the parsed tree: nothing is ever handed to Python's eval. As in Go, a number
literal without a point is an int, so ``gt $value 80`` is an error and ``gt $value 80.0`` is not;
an expansion error renders as ``<error expanding template: ...>`` the way Prometheus shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.core.alerting import tmplfuncs
from collector.core.alerting.template_syntax import Arg, IfNode, Parser, Pipe, TemplateError

__all__ = ["Template", "TemplateData", "TemplateError"]


# -- rendering ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateData:
    """What a rule template sees: the alert's labels and value, and the site's external labels."""

    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    def field(self, name: str) -> Any:
        match name:
            case "Labels":
                return self.labels
            case "Value":
                return self.value
            case "ExternalLabels":
                return self.external_labels
            case "ExternalURL":
                return self.external_url
        raise TemplateError(f"can't evaluate field {name} in type *template.tmplData")


class Template:
    """One parsed template; ``render`` never raises (errors render as Prometheus renders them)."""

    def __init__(self, source: str, name: str = "") -> None:
        self.source = source
        self.name = name
        try:
            self._nodes = Parser(source, tmplfuncs.FUNCS).parse()
        except TemplateError as exc:
            raise TemplateError(f"template: {name}: {exc}") from None

    @property
    def is_static(self) -> bool:
        return all(isinstance(n, str) for n in self._nodes)

    def render(self, data: TemplateData) -> str:
        if self.is_static:
            return "".join(self._nodes)
        scope: list[dict[str, Any]] = [{
            "$": data, "$labels": data.labels, "$value": data.value,
            "$externalLabels": data.external_labels, "$externalURL": data.external_url,
        }]
        out: list[str] = []
        try:
            self._walk(self._nodes, data, scope, out)
        except (TemplateError, tmplfuncs.CallError) as exc:
            return f"<error expanding template: {self.name}: {exc}>"
        return "".join(out)

    def _walk(
        self, nodes: list[Any], data: TemplateData, scope: list[dict[str, Any]], out: list[str]
    ) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, IfNode):
                branch = node.then if tmplfuncs.truth(self._pipe(node.pipe, data, scope)) else node.otherwise
                scope.append({})
                self._walk(branch, data, scope, out)
                scope.pop()
            else:
                value = self._pipe(node, data, scope)
                if node.decl is None:
                    out.append(tmplfuncs.go_str_for_output(value))

    def _pipe(self, pipe: Pipe, data: TemplateData, scope: list[dict[str, Any]]) -> Any:
        value: Any = _NOTHING
        for cmd in pipe.cmds:
            value = self._cmd(cmd, data, scope, value)
        if pipe.decl is not None:
            target = scope[-1]
            if pipe.assign:
                target = next((f for f in reversed(scope) if pipe.decl in f), target)
            target[pipe.decl] = value
        return value

    def _cmd(self, cmd: list[Arg], data: TemplateData, scope: list[dict[str, Any]], piped: Any) -> Any:
        head = cmd[0]
        if head.kind == "func":
            name = str(head.value)
            if name in {"and", "or"}:
                return self._and_or(name, cmd[1:], data, scope, piped)
            args = [self._arg(a, data, scope) for a in cmd[1:]]
            if piped is not _NOTHING:
                args.append(piped)
            return tmplfuncs.call(name, args, data)
        if piped is not _NOTHING:
            raise TemplateError(f"can't give argument to non-function {Parser.show(head)}")
        return self._arg(head, data, scope)

    def _and_or(self, name: str, args: list[Arg], data: TemplateData, scope: list[dict[str, Any]],
                piped: Any) -> Any:
        values = [lambda a=a: self._arg(a, data, scope) for a in args]
        if piped is not _NOTHING:
            values.append(lambda: piped)
        if not values:
            raise tmplfuncs.CallError(f"wrong number of args for {name}: want at least 1 got 0")
        result: Any = None
        for get in values:
            result = get()
            if tmplfuncs.truth(result) == (name == "or"):
                return result
        return result

    def _arg(self, arg: Arg, data: TemplateData, scope: list[dict[str, Any]]) -> Any:
        if arg.kind == "const":
            return arg.value
        if arg.kind == "func":
            return tmplfuncs.call(str(arg.value), [], data)
        if arg.kind == "pipe":
            base = self._pipe(arg.value, data, scope)
        elif arg.kind == "dot":
            base = data
        else:
            for frame in reversed(scope):
                if arg.value in frame:
                    base = frame[arg.value]
                    break
            else:
                raise TemplateError(f"undefined variable: {arg.value}")
        for name in arg.fields:
            base = _field(base, name)
        return base


_NOTHING = object()


def _field(base: Any, name: str) -> Any:
    if isinstance(base, TemplateData):
        return base.field(name)
    if isinstance(base, Mapping):
        # Prometheus renders with missingkey=zero: a label that is not there is "".
        return base.get(name, "")
    raise TemplateError(f"can't evaluate field {name} in type {tmplfuncs.go_type(base)}")
