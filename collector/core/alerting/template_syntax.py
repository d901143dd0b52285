"""Parsing rule templates: Go text/template's action syntax, the subset Prometheus rules use.

The result is a tree of text, ``IfNode`` and ``Pipe`` nodes that template.py renders. Unknown
functions, undefined variables and unsupported actions (range, with, define) are refused here,
so a rule file with a bad template fails when it loads, as with promtool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


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


class Parser:
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
