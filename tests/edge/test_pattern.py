"""HttpRule path templates: grammar, matching, decoding and specificity."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from urllib.parse import quote

import pytest

from edge.pattern import PathTemplate, TemplateError, compile_template


@pytest.mark.parametrize(
    ("template", "verb", "variables"),
    [
        ("/v1/things", None, ()),
        ("/health", None, ()),
        ("/v1/{name}", None, ("name",)),
        ("/v1/{name=*}", None, ("name",)),
        ("/v1/{name=projects/*/things/*}", None, ("name",)),
        ("/v1/{parent=projects/*}/things:batchGet", "batchGet", ("parent",)),
        ("/v1/{a.b.c}/x/{d_1}", None, ("a.b.c", "d_1")),
        ("/v1/{_x}", None, ("_x",)),
        ("/*", None, ()),
        ("/**", None, ()),
        ("/v1/*/x/**:verb", "verb", ()),
        ("/v1/{path=**}", None, ("path",)),
        ("/v1/{path=files/**}:download", "download", ("path",)),
        ("/a%20b/c", None, ()),
        ("/a-b_c.d~e!$&'()+,;@", None, ()),
        ("/sessions/{session_id}/handoff", None, ("session_id",)),
    ],
)
def test_valid_templates(template: str, verb: str | None, variables: tuple[str, ...]) -> None:
    compiled = compile_template(template)
    assert compiled.template == template
    assert compiled.verb == verb
    assert compiled.variables == variables


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("", "must start with '/'"),
        ("v1/things", "must start with '/'"),
        ("/", "empty segment"),
        ("//a", "empty segment"),
        ("/a//b", "empty segment"),
        ("/a/", "empty segment"),
        ("/{a=}", "empty segment"),
        ("/{a=b/}", "empty segment"),
        ("/a/**/b", "'**' must be the last segment"),
        ("/{a=**}/b", "'**' must be the last segment"),
        ("/{a=b/**/c}", "'**' must be the last segment"),
        ("/{a}/{a}", "duplicate variable 'a'"),
        ("/{a.b}/x/{a.b=*}", "duplicate variable 'a.b'"),
        ("/{a=b/{c}}", "variables may not nest"),
        ("/{a{b}}", "variables may not nest"),
        ("/{a", "unclosed '{'"),
        ("/{a=b/c", "unclosed '{'"),
        ("/a}", "unbalanced '}'"),
        ("/{a}}", "unbalanced '}'"),
        ("/a:b}", "unbalanced '}'"),
        ("/a{b}", "invalid character '{' in literal"),
        ("/{}", "invalid field path ''"),
        ("/{1a}", "invalid field path '1a'"),
        ("/{a..b}", "invalid field path 'a..b'"),
        ("/{a-b}", "invalid field path 'a-b'"),
        ("/{a:b}", "invalid field path 'a:b'"),
        ("/{a/b}", "expected '=' or '}' after field path 'a'"),
        ("/{a=b:c}", "':' is only allowed before the trailing verb"),
        ("/a:", "empty verb"),
        ("/a:b/c", "the verb must be at the end of the template"),
        ("/a:b:c", "the verb must be at the end of the template"),
        ("/a:b*", "invalid character '*' in verb"),
        ("/a*", "invalid character '*' in literal"),
        ("/*a", "'*' must be a whole segment"),
        ("/***", "'**' must be a whole segment"),
        ("/{a}b", "a variable must be a whole segment"),
        ("/a=b", "invalid character '=' in literal"),
        ("/{a=b=c}", "invalid character '=' in literal"),
        ("/café", "invalid character 'é' in literal"),
        ("/a b", "invalid character ' ' in literal"),
        ("/a?b", "invalid character '?' in literal"),
        ("/a%zz", "invalid character '%' in literal"),
        ("/a%2", "invalid character '%' in literal"),
    ],
)
def test_invalid_templates(template: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert f"invalid path template {template!r}: {reason}" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("/{a}/{a}", "duplicate variable 'a' (at offset 6)"),
        ("/a/**/b", "'**' must be the last segment (at offset 3)"),
        ("/x/{a=**}/b", "'**' must be the last segment (at offset 6)"),
        ("/x/{a=b", "unclosed '{' (at offset 3)"),
    ],
)
def test_error_names_the_offset(template: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(template)
    assert str(caught.value).endswith(error)


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        # literals: exact, case-sensitive, compared after percent-decoding
        ("/v1/things", "/v1/things", {}),
        ("/v1/things", "/v1/Things", None),
        ("/v1/things", "/v1/thing%73", {}),
        ("/v1/things", "/v1/things/", None),
        ("/v1/things", "/v1/things/x", None),
        ("/v1/things", "/v1", None),
        ("/v1/things", "v1/things", None),
        ("/v1/things", "", None),
        ("/v1/things", "//v1/things", None),
        ("/a%20b", "/a%20b", {}),
        ("/a%20b", "/a b", {}),
        # single-segment variables
        ("/v1/{name}", "/v1/abc", {"name": "abc"}),
        ("/v1/{name=*}", "/v1/abc", {"name": "abc"}),
        ("/v1/{name}", "/v1/a%2Fb", {"name": "a/b"}),
        ("/v1/{name}", "/v1/a%2fb", {"name": "a/b"}),
        ("/v1/{name}", "/v1/a%20b%C3%A9", {"name": "a bé"}),
        ("/v1/{name}", "/v1/a+b", {"name": "a+b"}),
        ("/v1/{name}", "/v1/a:b", {"name": "a:b"}),
        ("/v1/{name}", "/v1/%", {"name": "%"}),
        ("/v1/{name}", "/v1/..", {"name": ".."}),
        ("/v1/{name}", "/v1/%2E%2E", {"name": ".."}),
        ("/v1/{name}", "/v1/", None),
        ("/v1/{name}", "/v1//", None),
        ("/v1/{name}", "/v1/a/", None),
        ("/v1/{name}", "/v1/a/b", None),
        ("/v1/{name}", "/v1", None),
        ("/v1/{name}/x", "/v1//x", None),
        ("/v1/{a}/{b.c}", "/v1/x/y", {"a": "x", "b.c": "y"}),
        ("/*/{x}", "/anything/bar", {"x": "bar"}),
        ("/*/{x}", "//bar", None),
        # verbs: split off the last segment at its last unencoded colon, only when the template has one
        ("/v1/{name}:cancel", "/v1/abc:cancel", {"name": "abc"}),
        ("/v1/{name}:cancel", "/v1/a:b:cancel", {"name": "a:b"}),
        ("/v1/{name}:cancel", "/v1/a%3Acancel:cancel", {"name": "a:cancel"}),
        ("/v1/{name}:cancel", "/v1/abc", None),
        ("/v1/{name}:cancel", "/v1/abc:other", None),
        ("/v1/{name}:cancel", "/v1/abc:Cancel", None),
        ("/v1/{name}:cancel", "/v1/abc%3Acancel", None),
        ("/v1/{name}:cancel", "/v1/:cancel", None),
        ("/v1/{name}:cancel", "/v1/abc:cancel/x", None),
        ("/v1/{name}:cancel", "/v1/abc:cancel/", None),
        ("/v1/things:search", "/v1/things:search", {}),
        ("/v1/things:search", "/v1/things", None),
        ("/v1/things:search", "/v1/things:sear%63h", {}),
        ("/v1/things", "/v1/things:search", None),
        # multi-segment variables: each segment decoded except %2F
        ("/v1/{name=projects/*}", "/v1/projects/p1", {"name": "projects/p1"}),
        ("/v1/{name=projects/*}", "/v1/projects", None),
        ("/v1/{name=projects/*}", "/v1/other/p1", None),
        ("/v1/{name=projects/*}", "/v1/projects/", None),
        ("/v1/{name=projects/*}", "/v1/projects/a%2Fb", {"name": "projects/a%2Fb"}),
        ("/v1/{name=projects/*}", "/v1/projects/a%2fb%20c", {"name": "projects/a%2fb c"}),
        ("/v1/{name=projects/*}", "/v1/proj%65cts/p", {"name": "projects/p"}),
        ("/v1/{name=projects/*}/x", "/v1/projects/p/x", {"name": "projects/p"}),
        # "**": zero or more non-empty segments
        ("/v1/{path=**}", "/v1/a/b/c", {"path": "a/b/c"}),
        ("/v1/{path=**}", "/v1/a", {"path": "a"}),
        ("/v1/{path=**}", "/v1", {"path": ""}),
        ("/v1/{path=**}", "/v1/a%2Fb/c%20d/%C3%A9", {"path": "a%2Fb/c d/é"}),
        ("/v1/{path=**}", "/v1/a%252Fb", {"path": "a%2Fb"}),
        ("/v1/{path=**}", "/v1/a//b", None),
        ("/v1/{path=**}", "/v1/a/", None),
        ("/v1/{path=**}", "/v1/", None),
        ("/v1/{path=**}", "/v2/a", None),
        ("/v1/{path=files/**}", "/v1/files", {"path": "files"}),
        ("/v1/{path=files/**}", "/v1/files/a/b", {"path": "files/a/b"}),
        ("/v1/**", "/v1/x/y", {}),
        ("/**", "/anything/at/all", {}),
        ("/{a}/**", "/x", {"a": "x"}),
        ("/v1/{path=**}:get", "/v1/a/b:get", {"path": "a/b"}),
        ("/v1/{path=**}:get", "/v1:get", {"path": ""}),
        ("/v1/{path=**}:get", "/v1/a/b", None),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_template(template).match(path) == expected


def test_match_segments_takes_a_split_path() -> None:
    compiled = compile_template("/v1/{name}:cancel")
    assert compiled.match_segments(["v1", "a%20b:cancel"]) == {"name": "a b"}
    assert compiled.match_segments(["v1", "a"]) is None


@pytest.mark.parametrize(
    ("template", "low", "high"),
    [("/a", 1, 1), ("/a/{b}/c:d", 3, 3), ("/a/**", 1, None), ("/**", 0, None), ("/{x=a/b/**}", 2, None)],
)
def test_segment_bounds(template: str, low: int, high: int | None) -> None:
    compiled = compile_template(template)
    assert (compiled.min_segments, compiled.max_segments) == (low, high)


@pytest.mark.parametrize(
    ("template", "canonical"),
    [
        ("/v1/{name}", "/v1/*"),
        ("/v1/{name=projects/*}:x", "/v1/projects/*:x"),
        ("/v1/{p=**}", "/v1/**"),
        ("/a%20b/thing%73", "/a%20b/things"),
    ],
)
def test_canonical(template: str, canonical: str) -> None:
    assert compile_template(template).canonical() == canonical


def test_templates_are_frozen_values() -> None:
    compiled = compile_template("/v1/{name}")
    assert compiled == compile_template("/v1/{name}")
    assert compiled != compile_template("/v1/{other}")
    assert hash(compiled) == hash(compile_template("/v1/{name}"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.verb = "x"  # type: ignore[misc]
    assert "PathTemplate(template='/v1/{name}', verb=None, variables=('name',))" == repr(compiled)


def test_specificity_order() -> None:
    # Most specific first; shuffled input must sort back into this order.
    expected = [
        "/a/b/c:v",
        "/a/b/c",
        "/a/b/{z}",
        "/a/b",
        "/a/b/**",
        "/a/{x}/c",
        "/a/{x}:v",
        "/a/{x}",
        "/a/*/**",
        "/a",
        "/a/**",
        "/{x}/b",
        "/**",
    ]
    templates = [compile_template(t) for t in reversed(expected)]
    ordered = sorted(templates, key=PathTemplate.specificity, reverse=True)
    assert [t.template for t in ordered] == expected


# --- round trip: render values the way clients do (http.proto), then match them back ---

_TRICKY = [
    "plain",
    "with space",
    "ünïcødé",
    "日本語",
    "emoji 🚀",
    "%2F",
    "a%2Fb",
    "%252F",
    "..",
    ".",
    "a:b",
    "x:verb",
    "?q=1&r#frag",
    "+plus+",
    "100%",
    "~tilde-_.",
    "{braces}",
    "*",
    "**",
    "back\\slash",
    "'quote\"",
    "tab\tnewline\n",
    "a/b",
    "a/../b",
    "/leading",
    "trailing/",
    "a//b",
]


def _single(value: str) -> str:
    # Single-segment expansion: everything but [-_.~0-9a-zA-Z] is percent-encoded.
    return quote(value, safe="-_.~")


def _multi(value: str) -> str:
    # Multi-segment expansion: "/" is kept too.
    return quote(value, safe="-_.~/")


def _segmentable(value: str) -> bool:
    return all(value.split("/"))  # no empty segments once "/" separates them


_ROUND_TRIP: list[tuple[str, Callable[[dict[str, str]], str], Callable[[str], bool]]] = [
    ("/v1/{a}", lambda v: f"/v1/{_single(v['a'])}", bool),
    ("/v1/{a}/x/{b.c}:verb", lambda v: f"/v1/{_single(v['a'])}/x/{_single(v['b.c'])}:verb", bool),
    ("/v1/{a}:verb", lambda v: f"/v1/{_single(v['a'])}:verb", bool),
    ("/v1/{a}/{b=**}", lambda v: f"/v1/{_single(v['a'])}/{_multi(v['b'])}", _segmentable),
    ("/v1/{a}/{b=**}:get", lambda v: f"/v1/{_single(v['a'])}/{_multi(v['b'])}:get", _segmentable),
]


@pytest.mark.parametrize(("template", "render", "usable"), _ROUND_TRIP, ids=[t for t, _, _ in _ROUND_TRIP])
def test_round_trip(
    template: str,
    render: Callable[[dict[str, str]], str],
    usable: Callable[[str], bool],
) -> None:
    compiled = compile_template(template)
    checked = 0
    for first, second in itertools.product(_TRICKY, repeat=2):
        values = dict(zip(compiled.variables, (first, second), strict=False))
        if not all(usable(v) for v in values.values()):
            continue
        assert compiled.match(render(values)) == values, render(values)
        checked += 1
    assert checked > 100
