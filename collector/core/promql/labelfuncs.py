"""Label functions: label_replace() and label_join(), with Go's regexp template expansion."""

from __future__ import annotations

import re

from collector.core.promql.nodes import Context, LabelMap, Labels, Node, Vector, check_unique

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def go_expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; names are as long as can be."""
    out: list[str] = []
    i = 0
    n = len(template)
    groups = match.re.groupindex
    while i < n:
        j = template.find("$", i)
        if j < 0:
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + 1 if brace else i
        start = k
        while k < n and (template[k].isalnum() or template[k] == "_"):
            k += 1
        name = template[start:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")  # malformed: the dollar stays as text
            continue
        i = k + 1 if brace else k
        if name.isdigit() and name.isascii() and not (name[0] == "0" and len(name) > 1) and len(name) < 9:
            idx = int(name)
            if idx <= (match.re.groups or 0):
                out.append(match.group(idx) or "")
        elif name in groups:
            out.append(match.group(name) or "")
    out.append(template[i:])
    return "".join(out)


class _Relabel(Node):
    """A function that sets (or, with an empty value, removes) one label on every sample."""

    def __init__(self, expr: Node, dst: str) -> None:
        self.expr = expr
        self.dst = dst
        self.one_name = False
        self.relabel = LabelMap(self._relabel)

    def value(self, labels: Labels) -> str | None:
        """The new value of ``dst``, or None to leave the labels as they are."""
        raise NotImplementedError

    def _relabel(self, labels: Labels) -> Labels:
        value = self.value(labels)
        if value is None:
            return labels
        out = dict(labels)
        out.pop(self.dst, None)
        if value:
            out[self.dst] = value
        return out

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def compute(self, ctx: Context) -> Vector:
        vec = self.expr.vector(ctx)
        return check_unique(Vector(self.relabel.many(vec.labels), vec.values))


class LabelReplace(_Relabel):
    def __init__(self, expr: Node, dst: str, replacement: str, src: str, regex: re.Pattern[str]) -> None:
        self.replacement = replacement
        self.src = src
        self.regex = regex
        super().__init__(expr, dst)

    def value(self, labels: Labels) -> str | None:
        m = self.regex.fullmatch(labels.get(self.src, ""))
        return None if m is None else go_expand(self.replacement, m)


class LabelJoin(_Relabel):
    def __init__(self, expr: Node, dst: str, sep: str, srcs: tuple[str, ...]) -> None:
        self.sep = sep
        self.srcs = srcs
        super().__init__(expr, dst)

    def value(self, labels: Labels) -> str | None:
        return self.sep.join(labels.get(n, "") for n in self.srcs)
