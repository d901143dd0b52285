"""Knowledge-base articles (Markdown with a front-matter block) and how they match a ticket.

An article starts with a block between two ``---`` lines naming what it is about::

    ---
    title: Disk full on /var
    alerts: [DiskAlmostFull]
    categories: [storage]
    tags: [disk, logrotate]
    ---
    Markdown text ...

The shell reads the files; this module parses text and ranks matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Article:
    path: str
    title: str
    body: str
    alerts: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()


def _names(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value.lower()})
    if isinstance(value, list | tuple):
        return frozenset(str(v).lower() for v in value)
    return frozenset()


def parse_article(path: str, text: str) -> Article:
    """Parse an article; one without front matter is still searchable by its text."""
    meta: dict[str, object] = {}
    body = text
    if text.startswith("---"):
        head, sep, rest = text[3:].partition("\n---")
        if sep:
            try:
                loaded = yaml.safe_load(head)
            except yaml.YAMLError:
                loaded = None
            if isinstance(loaded, dict):
                meta = loaded
                body = rest.lstrip("-").lstrip("\n")
    title = str(meta.get("title") or "")
    if not title:
        first = next((ln for ln in body.splitlines() if ln.strip()), path)
        title = first.lstrip("# ").strip()
    return Article(
        path=path,
        title=title,
        body=body,
        alerts=_names(meta.get("alerts") or meta.get("alert")),
        categories=_names(meta.get("categories") or meta.get("category")),
        tags=_names(meta.get("tags")),
    )


def applies(
    article: Article, *, alertname: str | None, category: str | None, tags: Iterable[str] = ()
) -> bool:
    """Whether the article is about this alert, category or one of these tags."""
    if alertname and alertname.lower() in article.alerts:
        return True
    if category and category.lower() in article.categories:
        return True
    return bool(article.tags & {t.lower() for t in tags})


def search(articles: Sequence[Article], text: str) -> list[Article]:
    """Articles containing every word of ``text`` (title, names or body), best first."""
    words = [w.lower() for w in text.split() if w.strip()]
    if not words:
        return []
    scored: list[tuple[int, str, Article]] = []
    for a in articles:
        names = a.alerts | a.categories | a.tags
        hay = f"{a.title}\n{a.body}".lower()
        if not all(w in hay or any(w in n for n in names) for w in words):
            continue
        points = sum(
            3 * (w in a.title.lower()) + 2 * any(w in n for n in names) + hay.count(w) for w in words
        )
        scored.append((-points, a.path, a))
    return [a for _, _, a in sorted(scored, key=lambda s: (s[0], s[1]))]


def excerpt(text: str, words: Sequence[str], width: int = 160) -> str:
    """A short stretch of ``text`` around the first of ``words`` it contains."""
    low = text.lower()
    pos = min((low.find(w.lower()) for w in words if w and w.lower() in low), default=0)
    start = max(pos - width // 3, 0)
    piece = " ".join(text[start : start + width].split())
    return ("…" if start else "") + piece
