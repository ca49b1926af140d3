"""Path templates of google.api.HttpRule (google/api/http.proto), compiled for matching.

Grammar::

    Template  = "/" Segments [ Verb ] ;
    Segments  = Segment { "/" Segment } ;
    Segment   = "*" | "**" | LITERAL | Variable ;
    Variable  = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb      = ":" LITERAL ;
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import quote, unquote

__all__ = ["PathTemplate", "TemplateError", "compile_template"]


class TemplateError(ValueError):
    """A path template does not follow the HttpRule grammar."""


class _Kind(IntEnum):
    # The values double as specificity ranks: a larger rank is more specific. END marks the end of a
    # template so that "/a" outranks "/a/**" (both match "/a"), while "/a/{x}" still outranks "/a".
    DOUBLE_STAR = 0
    END = 1
    SINGLE = 2  # "*" or a single-segment variable
    LITERAL = 3


@dataclass(frozen=True)
class _Segment:
    kind: _Kind
    literal: str = ""  # percent-decoded, compared with the decoded request segment


@dataclass(frozen=True)
class _Binding:
    name: str
    start: int  # index of the first template segment the variable covers
    end: int  # exclusive; a variable ending in "**" runs to the end of the request path
    multi: bool  # anything but exactly one segment: reserved expansion, "%2F" stays encoded


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# RFC 3986 pchar minus ":" (verb separator) and "*" (wildcards); "=" is excluded so that
# "{a=b=c}" is rejected rather than read as a literal "b=c".
_LITERAL = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()+,;@]|%[0-9A-Fa-f]{2})+")
_PCT_SLASH = re.compile(r"(%2[Ff])")


@dataclass(frozen=True)
class PathTemplate:
    """A compiled path template; build it with :func:`compile_template`."""

    template: str
    verb: str | None
    variables: tuple[str, ...]
    _segments: tuple[_Segment, ...] = field(default=(), repr=False, compare=False)
    _bindings: tuple[_Binding, ...] = field(default=(), repr=False, compare=False)
    # Derived from _segments once, as match() runs for many templates per request.
    _literals: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _min: int = field(init=False, repr=False, compare=False)
    _max: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        open_ended = bool(self._segments) and self._segments[-1].kind is _Kind.DOUBLE_STAR
        literals = tuple((i, s.literal) for i, s in enumerate(self._segments) if s.kind is _Kind.LITERAL)
        object.__setattr__(self, "_literals", literals)
        object.__setattr__(self, "_min", len(self._segments) - int(open_ended))
        object.__setattr__(self, "_max", None if open_ended else len(self._segments))

    @property
    def min_segments(self) -> int:
        """The fewest request path segments this template can match."""
        return self._min

    @property
    def max_segments(self) -> int | None:
        """The most request path segments this template can match; None when unbounded ("**")."""
        return self._max

    @property
    def first_literal(self) -> str | None:
        """The first segment (decoded) when it is a literal, else None; lets a router index templates."""
        first = self._segments[0] if self._segments else None
        return first.literal if first is not None and first.kind is _Kind.LITERAL else None

    def canonical(self) -> str:
        """The template without variable names: two templates with equal canonical forms match the
        same paths (e.g. "/a/{x}" and "/a/*")."""
        parts = [
            quote(s.literal, safe="") if s.kind is _Kind.LITERAL else "*" if s.kind is _Kind.SINGLE else "**"
            for s in self._segments
        ]
        verb = "" if self.verb is None else ":" + quote(self.verb, safe="")
        return "/" + "/".join(parts) + verb

    def specificity(self) -> tuple[tuple[int, ...], bool]:
        """Sort key, larger is more specific: per segment from the left literal > "*"/variable > "**";
        a template that ends where another continues with "**" wins; then a verb beats no verb."""
        ranks = (*(int(s.kind) for s in self._segments), int(_Kind.END))
        return ranks, self.verb is not None

    def match(self, path: str) -> dict[str, str] | None:
        """Match a request path (without query string); returns field path -> value, or None."""
        if not path.startswith("/"):
            return None
        return self.match_segments(path[1:].split("/"))

    def match_segments(self, segments: list[str]) -> dict[str, str] | None:
        """Like :meth:`match` for a path already split on "/" (leading "/" removed, still encoded)."""
        if self.verb is not None:
            # The verb only ever comes off the last segment, at its last (unencoded) colon.
            last, sep, verb = segments[-1].rpartition(":")
            if not sep or unquote(verb) != self.verb:
                return None
            segments = [*segments[:-1], last]
        count = len(segments)
        if count < self._min or (self._max is not None and count > self._max):
            return None
        for index, literal in self._literals:
            segment = segments[index]
            if segment != literal and ("%" not in segment or unquote(segment) != literal):
                return None
        if "" in segments:  # "/a//b", "/a/": nothing binds or matches an empty segment
            return None
        values: dict[str, str] = {}
        for binding in self._bindings:
            # Only a variable ending in "**" reaches the last template segment with an open end.
            end = count if binding.end == len(self._segments) and self._max is None else binding.end
            bound = segments[binding.start : end]
            if binding.multi:
                values[binding.name] = "/".join(_decode_reserved(s) for s in bound)
            else:
                values[binding.name] = unquote(bound[0], errors="strict")
        return values


def _decode_reserved(segment: str) -> str:
    # Multi-segment variables keep "%2F"/"%2f" encoded so a decoded "/" is always a real separator.
    parts = _PCT_SLASH.split(segment)  # the capturing group puts the kept escapes at odd indexes
    return "".join(part if index % 2 else unquote(part, errors="strict") for index, part in enumerate(parts))


class _Parser:
    """Recursive descent over the template text; every error names the offset and the reason."""

    def __init__(self, template: str) -> None:
        self.text = template
        self.pos = 0
        self.segments: list[_Segment] = []
        self.bindings: list[_Binding] = []
        self.double_star_at: int | None = None  # offset of a "**", which nothing may follow

    def fail(self, reason: str, pos: int | None = None) -> TemplateError:
        at = self.pos if pos is None else pos
        return TemplateError(f"invalid path template {self.text!r}: {reason} (at offset {at})")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> PathTemplate:
        if not self.text.startswith("/"):
            raise self.fail("must start with '/'", 0)
        self.pos = 1
        self.parse_segments(in_variable=False)
        verb: str | None = None
        if self.peek() == ":":
            self.pos += 1
            verb = self.parse_literal("verb")
        if self.pos < len(self.text):
            if verb is not None and self.peek() != "}":
                raise self.fail("the verb must be at the end of the template")
            raise self.fail(self.unexpected())
        return PathTemplate(
            template=self.text,
            verb=verb,
            variables=tuple(b.name for b in self.bindings),
            _segments=tuple(self.segments),
            _bindings=tuple(self.bindings),
        )

    def unexpected(self) -> str:
        char = self.peek()
        if char == "}":
            return "unbalanced '}'"
        if char == ":":
            return "':' is only allowed before the trailing verb"
        return f"unexpected {char!r}"

    def parse_segments(self, *, in_variable: bool) -> None:
        while True:
            self.parse_segment(in_variable=in_variable)
            if self.peek() != "/":
                return
            self.pos += 1

    def parse_segment(self, *, in_variable: bool) -> None:
        char = self.peek()
        if char in ("", "/") or (char == "}" and in_variable):
            raise self.fail("empty segment")
        if self.double_star_at is not None:
            raise self.fail("'**' must be the last segment", self.double_star_at)
        if char == "{":
            if in_variable:
                raise self.fail("variables may not nest")
            self.parse_variable()
            what = "a variable"
        elif char == "*":
            double = self.text.startswith("**", self.pos)
            if double:
                self.double_star_at = self.pos
            self.pos += 2 if double else 1
            self.segments.append(_Segment(_Kind.DOUBLE_STAR if double else _Kind.SINGLE))
            what = "'**'" if double else "'*'"
        else:
            self.segments.append(_Segment(_Kind.LITERAL, self.parse_literal("literal")))
            return
        if self.peek() not in ("", "/", ":", "}"):
            raise self.fail(f"{what} must be a whole segment")

    def parse_literal(self, what: str) -> str:
        match = _LITERAL.match(self.text, self.pos)
        if match is None:
            char = self.peek()
            raise self.fail(f"empty {what}" if char in ("", "/") else f"invalid character {char!r} in {what}")
        self.pos = match.end()
        char = self.peek()
        if char not in ("", "/", ":", "}"):
            raise self.fail(f"invalid character {char!r} in {what}")
        return unquote(match.group())

    def parse_variable(self) -> None:
        open_pos = self.pos
        self.pos += 1
        end = self.pos
        while end < len(self.text) and self.text[end] not in "=}{/":
            end += 1
        name = self.text[self.pos : end]
        if not all(_IDENT.fullmatch(part) for part in name.split(".")):
            raise self.fail(f"invalid field path {name!r}")
        if any(b.name == name for b in self.bindings):
            raise self.fail(f"duplicate variable {name!r}")
        self.pos = end
        start = len(self.segments)
        if self.peek() == "=":
            self.pos += 1
            self.parse_segments(in_variable=True)
        else:
            self.segments.append(_Segment(_Kind.SINGLE))
        char = self.peek()
        if char == "":
            raise self.fail("unclosed '{'", open_pos)
        if char == "{":
            raise self.fail("variables may not nest")
        if char == "/":
            raise self.fail(f"expected '=' or '}}' after field path {name!r}")
        if char != "}":
            raise self.fail(self.unexpected())
        self.pos += 1
        covered = self.segments[start:]
        multi = len(covered) != 1 or covered[0].kind is _Kind.DOUBLE_STAR
        self.bindings.append(_Binding(name, start, len(self.segments), multi))


def compile_template(template: str) -> PathTemplate:
    """Parse an HttpRule path template; raises TemplateError naming the offending part."""
    return _Parser(template).parse()
