"""Routing of (HTTP method, path) to a target by HttpRule path templates, most specific first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

from edge.pattern import PathTemplate, compile_template

__all__ = ["MethodNotAllowed", "NoRoute", "Router"]

T = TypeVar("T")

_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Z]+")  # RFC 9110 token, after upper-casing


class NoRoute(Exception):
    """No template matches the path (HTTP 404)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no route for path {path!r}")
        self.path = path


class MethodNotAllowed(Exception):
    """Templates match the path, but none for this method (HTTP 405)."""

    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(f"method {method} not allowed for path {path!r}; allowed: {', '.join(allowed)}")
        self.method = method
        self.path = path
        self.allowed = allowed  # sorted, for the Allow header


@dataclass(frozen=True)
class _Route(Generic[T]):
    method: str
    template: PathTemplate
    target: T


class Router(Generic[T]):
    """Maps (method, path) to a target and the path variables bound by its template.

    Candidates are bucketed by the number of path segments a template can match and by its first
    segment when that is a literal, each bucket sorted most specific first. A request costs O(S) to
    split the path plus O(B * S) for the B templates in its bucket (those of a compatible length
    that start with the same literal or with a variable), not a scan of every route.
    """

    def __init__(self) -> None:
        self._routes: list[_Route[T]] = []
        self._shapes: dict[tuple[str, str], PathTemplate] = {}  # (method, canonical) -> template
        self._firsts: set[str] = set()  # first literals of indexable templates
        # (segment count, first literal or None) -> candidates; built lazily, cleared by add()
        self._buckets: dict[tuple[int, str | None], list[_Route[T]]] = {}
        self._cap = 0  # segment counts >= cap all share one bucket (only "**" templates fit)

    def add(self, method: str, template: str | PathTemplate, target: T) -> None:
        """Register a route; raises ValueError for a duplicate or a template that matches exactly
        the same paths as an existing one for the method (it could never be chosen)."""
        method = method.upper()
        if not _METHOD.fullmatch(method):
            raise ValueError(f"invalid HTTP method {method!r}")
        compiled = compile_template(template) if isinstance(template, str) else template
        key = (method, compiled.canonical())
        existing = self._shapes.get(key)
        if existing is not None:
            if existing.template == compiled.template:
                raise ValueError(f"duplicate route {method} {compiled.template}")
            raise ValueError(
                f"route {method} {compiled.template} conflicts with {method} {existing.template}"
                " (both match exactly the same paths)"
            )
        self._shapes[key] = compiled
        self._routes.append(_Route(method, compiled, target))
        longest = compiled.min_segments if compiled.max_segments is None else compiled.max_segments
        self._cap = max(self._cap, longest + 1)
        first = _index_key(compiled)
        if first is not None:
            self._firsts.add(first)
        self._buckets.clear()

    def routes(self) -> list[tuple[str, PathTemplate, T]]:
        """All routes in insertion order."""
        return [(r.method, r.template, r.target) for r in self._routes]

    def match(self, method: str, path: str) -> tuple[T, dict[str, str]]:
        """Find the most specific route for the method; raises NoRoute or MethodNotAllowed."""
        if not path.startswith("/"):
            raise NoRoute(path)
        method = method.upper()
        segments = path[1:].split("/")
        allowed: set[str] = set()
        first = unquote(segments[0])
        for route in self._bucket(len(segments), first if first in self._firsts else None):
            if route.method in allowed:  # already known to match; it cannot be this method
                continue
            values = route.template.match_segments(segments)
            if values is None:
                continue
            if route.method == method:
                return route.target, values
            allowed.add(route.method)
        if allowed:
            raise MethodNotAllowed(method, path, sorted(allowed))
        raise NoRoute(path)

    def _bucket(self, count: int, first: str | None) -> list[_Route[T]]:
        # Every fixed-length template is shorter than _cap, and every "**" template's minimum is below
        # it, so all counts >= _cap have the same candidates; with first limited to known literals,
        # the cache stays bounded whatever paths clients send.
        key = (min(count, self._cap), first)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [r for r in self._routes if _fits(r.template, *key)]
            bucket.sort(key=lambda r: r.template.specificity(), reverse=True)
            self._buckets[key] = bucket
        return bucket


def _fits(template: PathTemplate, count: int, first: str | None) -> bool:
    upper = template.max_segments
    fits_length = template.min_segments <= count and (upper is None or count <= upper)
    return fits_length and _index_key(template) in (None, first)


def _index_key(template: PathTemplate) -> str | None:
    """The literal a request's first segment must equal for the template to match, if any.

    Not for a template whose first segment can also be the last one carrying the verb ("/a:run"
    sees the request segment "a:run"): those stay in every bucket of their length.
    """
    if template.verb is not None and template.min_segments <= 1:
        return None
    return template.first_literal
