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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.core.alerting import tmplfuncs


class TemplateError(ValueError):
    """A template that does not parse, or that failed while rendering."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<decl>:=) | (?P<assign>=) | (?P<pipe>\|) | (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<var>\$[A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z_0-9]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z_0-9]*)
    """,
    re.VERBOSE,
)
_FIELDS = re.compile(r"(?:\.[A-Za-z_][A-Za-z_0-9]*)+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "0": "\0"}
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


# -- the parsed tree ------------------------------------------------------------------------------
@dataclass
class Arg:
    kind: str  # const, dot, var, func, pipe
    value: Any = None
    fields: tuple[str, ...] = ()


@dataclass
class Pipe:
    cmds: list[list[Arg]]
    decl: str | None = None
    assign: bool = False  # ``$x = ...`` changes an existing variable; ``$x := ...`` declares one


@dataclass
class IfNode:
    pipe: Pipe
    then: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)


def _unquote(tok: str) -> str:
    if tok.startswith("`"):
        return tok[1:-1]
    out, i, body = [], 0, tok[1:-1]
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2 : i + 2 + n], 16)))
            i += 2 + n
        else:
            raise TemplateError(f"unknown escape sequence \\{nxt}")
    return "".join(out)


def _number(tok: str) -> int | float:
    low = tok.lower()
    if low.lstrip("+-").startswith("0x"):
        return int(low, 16)
    if any(c in low for c in ".e"):
        return float(tok)
    return int(tok)


class _Parser:
    def __init__(self, source: str, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.source = source
        self.funcs = funcs
        # Variables in scope, innermost last: Go refuses an undefined one when the template parses.
        self.scopes: list[set[str]] = [{"$", "$labels", "$value", "$externalLabels", "$externalURL"}]

    def tokens(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise TemplateError(f"unexpected {text[pos]!r} in action")
            kind = m.lastgroup or ""
            after_operand = out and out[-1][0] in {"var", "field", "ident", "rp", "num", "str", "raw"}
            if kind == "num" and after_operand and text[pos] in "+-" and text[pos - 1] not in " \t\n":
                # "x-1" is not Go syntax: report it, never guess what was meant.
                raise TemplateError(f"unexpected {text[pos]!r} in action")
            pos = m.end()
            if kind == "rp" and pos < len(text):
                chain = _FIELDS.match(text, pos)
                if chain:
                    out.append((kind, ")"))
                    out.append(("chain", chain.group()))
                    pos = chain.end()
                    continue
            if kind != "ws":
                out.append((kind, m.group()))
        return out

    def pipeline(self, toks: list[tuple[str, str]]) -> Pipe:
        decl, assign = None, False
        if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] in {"decl", "assign"}:
            decl = toks[0][1]
            assign = toks[1][0] == "assign"
            if assign and not self.defined(decl):
                raise TemplateError(f"undefined variable: {decl}")
            toks = toks[2:]
        cmds: list[list[Arg]] = [[]]
        i = 0
        while i < len(toks):
            kind, text = toks[i]
            if kind == "pipe":
                cmds.append([])
                i += 1
                continue
            if kind == "lp":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    depth += {"lp": 1, "rp": -1}.get(toks[j][0], 0)
                    j += 1
                if depth:
                    raise TemplateError("unclosed left paren")
                inner = self.pipeline(toks[i + 1 : j - 1])
                chain: tuple[str, ...] = ()
                if j < len(toks) and toks[j][0] == "chain":
                    chain = tuple(toks[j][1].split(".")[1:])
                    j += 1
                cmds[-1].append(Arg("pipe", inner, chain))
                i = j
                continue
            cmds[-1].append(self.operand(kind, text))
            i += 1
        if any(not c for c in cmds):
            raise TemplateError("missing command in pipeline")
        if decl is not None:
            self.scopes[-1].add(decl)
        for c in cmds:
            if c[0].kind != "func" and len(c) > 1:
                raise TemplateError(f"can't give argument to non-function {self.show(c[0])}")
        return Pipe(cmds, decl, assign)

    def operand(self, kind: str, text: str) -> Arg:
        if kind in {"str", "raw"}:
            return Arg("const", _unquote(text))
        if kind == "num":
            return Arg("const", _number(text))
        if kind == "var":
            name, *rest = text.split(".")
            if not self.defined(name):
                raise TemplateError(f"undefined variable: {name}")
            return Arg("var", name, tuple(rest))
        if kind == "field":
            return Arg("dot", None, tuple(text.split(".")[1:]) if text != "." else ())
        if kind == "ident":
            if text in {"true", "false"}:
                return Arg("const", text == "true")
            if text == "nil":
                return Arg("const", None)
            if text in _KEYWORDS:
                raise TemplateError(f"unexpected {text} in operand")
            if text not in self.funcs:
                raise TemplateError(f'function "{text}" not defined')
            return Arg("func", text)
        raise TemplateError(f"unexpected {text!r} in operand")

    def defined(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    @staticmethod
    def show(arg: Arg) -> str:
        return str(arg.value if arg.kind != "dot" else "." + ".".join(arg.fields))

    def parse(self) -> list[Any]:
        root: list[Any] = []
        stack: list[tuple[IfNode, list[Any]]] = []  # open ifs and the list now being filled
        current = root
        text = self.source
        pos = 0
        trim_next = False
        while True:
            start = text.find("{{", pos)
            chunk = text[pos:] if start < 0 else text[pos:start]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if start < 0:
                if chunk:
                    current.append(chunk)
                break
            inner_start = start + 2
            trim_left = text.startswith("- ", inner_start) or text.startswith("-\t", inner_start) \
                or text.startswith("-\n", inner_start)
            if trim_left:
                chunk = chunk.rstrip(" \t\r\n")
                inner_start += 1
            if chunk:
                current.append(chunk)
            end, body = self._action_end(text, inner_start)
            trim_next = body.endswith((" -", "\t-", "\n-"))
            if trim_next:
                body = body[:-1]
            pos = end + 2
            stripped = body.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise TemplateError("unclosed comment")
                continue
            toks = self.tokens(body)
            if not toks:
                raise TemplateError("missing value for command")
            head = toks[0][1] if toks[0][0] == "ident" else ""
            if head == "if":
                node = IfNode(self.pipeline(toks[1:]))
                self.scopes.append(set())
                current.append(node)
                stack.append((node, current))
                current = node.then
            elif head == "else":
                if not stack:
                    raise TemplateError("unexpected {{else}}")
                node, _ = stack[-1]
                if len(toks) > 1 and toks[1] == ("ident", "if"):
                    self.scopes[-1] = set()
                    nested = IfNode(self.pipeline(toks[2:]))
                    node.otherwise.append(nested)
                    # "else if" closes with the outer "end": replace the frame, keep the outer parent.
                    stack[-1] = (nested, stack[-1][1])
                    current = nested.then
                else:
                    self.scopes[-1] = set()
                    current = node.otherwise
            elif head == "end":
                if not stack:
                    raise TemplateError("unexpected {{end}}")
                _, current = stack.pop()
                self.scopes.pop()
            elif head in _KEYWORDS:
                raise TemplateError(f"{{{{{head}}}}} is not supported in rule templates")
            else:
                current.append(self.pipeline(toks))
        if stack:
            raise TemplateError("unexpected EOF: an {{if}} has no {{end}}")
        return root

    @staticmethod
    def _action_end(text: str, pos: int) -> tuple[int, str]:
        i = pos
        quote = ""
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
            elif ch in "\"`":
                quote = ch
            elif text.startswith("}}", i):
                return i, text[pos:i]
            i += 1
        raise TemplateError("unclosed action")


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
            self._nodes = _Parser(source, tmplfuncs.FUNCS).parse()
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
            raise TemplateError(f"can't give argument to non-function {_Parser.show(head)}")
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
