"""Routing by method and path: precedence, 404 vs 405, registration errors."""

from __future__ import annotations

import pytest

from edge.mux import MethodNotAllowed, NoRoute, Router
from edge.pattern import TemplateError, compile_template

_ROUTES = [
    ("GET", "/sessions/{session_id}", "get_session"),
    ("DELETE", "/sessions/{session_id}", "delete_session"),
    ("GET", "/sessions/search/messages", "search_messages"),
    ("POST", "/sessions/{session_id}/handoff", "handoff"),
    ("GET", "/skills/cache/stats", "cache_stats"),
    ("GET", "/skills/{skill_id}", "get_skill"),
    ("GET", "/skills/{skill_id}/{version}", "get_skill_version"),
    ("DELETE", "/skills/{skill_id}/{version}", "delete_skill_version"),
    ("POST", "/v1/{name}", "update"),
    ("POST", "/v1/{name}:cancel", "cancel"),
    ("POST", "/v1/special:cancel", "cancel_special"),
    ("GET", "/files/{path=**}", "files"),
    ("GET", "/files/{id}/meta", "file_meta"),
    ("GET", "/files", "file_list"),
    ("GET", "/a/{x}/c", "a_x_c"),
    ("GET", "/a/b/{y}", "a_b_y"),
    ("GET", "/health", "health"),
]


def _router(routes: list[tuple[str, str, str]]) -> Router[str]:
    router: Router[str] = Router()
    for method, template, target in routes:
        router.add(method, template, target)
    return router


@pytest.fixture(params=["forward", "reversed"])
def router(request: pytest.FixtureRequest) -> Router[str]:
    # Precedence must not depend on insertion order.
    return _router(_ROUTES if request.param == "forward" else _ROUTES[::-1])


@pytest.mark.parametrize(
    ("method", "path", "target", "values"),
    [
        ("GET", "/sessions/abc", "get_session", {"session_id": "abc"}),
        ("DELETE", "/sessions/abc", "delete_session", {"session_id": "abc"}),
        ("GET", "/sessions/search", "get_session", {"session_id": "search"}),
        ("GET", "/sessions/search/messages", "search_messages", {}),
        ("POST", "/sessions/abc/handoff", "handoff", {"session_id": "abc"}),
        ("POST", "/sessions/search/handoff", "handoff", {"session_id": "search"}),
        ("GET", "/skills/cache/stats", "cache_stats", {}),
        ("GET", "/skills/cache", "get_skill", {"skill_id": "cache"}),
        ("GET", "/skills/cache/other", "get_skill_version", {"skill_id": "cache", "version": "other"}),
        ("GET", "/skills/s%201", "get_skill", {"skill_id": "s 1"}),
        ("POST", "/v1/thing", "update", {"name": "thing"}),
        ("POST", "/v1/thing:cancel", "cancel", {"name": "thing"}),
        ("POST", "/v1/thing:other", "update", {"name": "thing:other"}),
        ("POST", "/v1/special:cancel", "cancel_special", {}),
        ("GET", "/files", "file_list", {}),
        ("GET", "/files/x", "files", {"path": "x"}),
        ("GET", "/files/x/meta", "file_meta", {"id": "x"}),
        ("GET", "/files/x/y", "files", {"path": "x/y"}),
        ("GET", "/files/x/meta/more", "files", {"path": "x/meta/more"}),
        ("GET", "/a/b/c", "a_b_y", {"y": "c"}),
        ("GET", "/a/z/c", "a_x_c", {"x": "z"}),
        ("get", "/health", "health", {}),
    ],
)
def test_most_specific_route_wins(
    router: Router[str], method: str, path: str, target: str, values: dict[str, str]
) -> None:
    assert router.match(method, path) == (target, values)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/health/",
        "/sessions/",
        "/sessions//handoff",
        "/skills/cache/stats/",
        "/files/x//y",
        "",
        "/",
        "health",
        "/HEALTH",
    ],
)
def test_no_route(router: Router[str], path: str) -> None:
    with pytest.raises(NoRoute):
        router.match("GET", path)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/sessions/abc", ["DELETE", "GET"]),
        ("POST", "/health", ["GET"]),
        ("HEAD", "/health", ["GET"]),  # no implicit HEAD -> GET
        ("GET", "/v1/thing:cancel", ["POST"]),
        ("PUT", "/skills/cache/stats", ["DELETE", "GET"]),  # the union over all matching templates
        ("DELETE", "/sessions/search/messages", ["GET"]),
        ("GET", "/sessions/abc/handoff", ["POST"]),
    ],
)
def test_method_not_allowed(router: Router[str], method: str, path: str, allowed: list[str]) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        router.match(method, path)
    assert caught.value.allowed == allowed
    assert ", ".join(allowed) in str(caught.value)


def test_method_filters_before_specificity() -> None:
    # A less specific route for this method beats a more specific route for another method.
    router = _router([("GET", "/items/special", "special"), ("POST", "/items/{id}", "create")])
    assert router.match("POST", "/items/special") == ("create", {"id": "special"})
    assert router.match("GET", "/items/special") == ("special", {})
    with pytest.raises(MethodNotAllowed) as caught:
        router.match("GET", "/items/other")
    assert caught.value.allowed == ["POST"]


def test_exact_template_before_double_star() -> None:
    router = _router([("GET", "/a/**", "rest"), ("GET", "/a", "exact"), ("GET", "/**", "all")])
    assert router.match("GET", "/a") == ("exact", {})
    assert router.match("GET", "/a/b") == ("rest", {})
    assert router.match("GET", "/b/c") == ("all", {})


def test_long_paths_reach_double_star_routes() -> None:
    router = _router([("GET", "/static/{path=**}", "static"), ("GET", "/static/{a}/{b}", "two")])
    deep = "/".join(f"s{i}" for i in range(200))
    assert router.match("GET", f"/static/{deep}") == ("static", {"path": deep})
    assert router.match("GET", "/static/x/y") == ("two", {"a": "x", "b": "y"})
    with pytest.raises(NoRoute):
        router.match("GET", f"/other/{deep}")


def test_routes_added_after_matching_are_seen() -> None:
    router = _router([("GET", "/skills/{skill_id}", "get_skill")])
    assert router.match("GET", "/skills/cache") == ("get_skill", {"skill_id": "cache"})
    router.add("GET", "/skills/cache", "cache")
    router.add("GET", "/skills/{skill_id}/a/b/c", "deep")
    assert router.match("GET", "/skills/cache") == ("cache", {})
    assert router.match("GET", "/skills/x/a/b/c") == ("deep", {"skill_id": "x"})


def test_many_routes() -> None:
    router: Router[int] = Router()
    for i in range(70):
        router.add("GET", f"/r{i}/{{id}}/x{i}", i)
        router.add("POST", f"/r{i}/{{id}}", i + 1000)
    for i in range(70):
        assert router.match("GET", f"/r{i}/7/x{i}") == (i, {"id": "7"})
        assert router.match("POST", f"/r{i}/7") == (i + 1000, {"id": "7"})


def test_duplicate_route() -> None:
    router = _router([("GET", "/a/{x}", "first")])
    with pytest.raises(ValueError, match=r"duplicate route GET /a/\{x\}"):
        router.add("get", "/a/{x}", "second")
    with pytest.raises(ValueError, match="duplicate route"):
        router.add("GET", compile_template("/a/{x}"), "second")
    with pytest.raises(ValueError, match=r"conflicts with GET /a/\{x\}"):
        router.add("GET", "/a/{y}", "same paths")
    with pytest.raises(ValueError, match="conflicts with"):
        router.add("GET", "/a/*", "same paths")
    router.add("POST", "/a/{x}", "other method")
    router.add("GET", "/a/{x}:verb", "with a verb")
    assert router.match("GET", "/a/1") == ("first", {"x": "1"})


@pytest.mark.parametrize("method", ["", "GE T", "GET\n", "GÉT"])
def test_invalid_method(method: str) -> None:
    with pytest.raises(ValueError, match="invalid HTTP method"):
        Router[str]().add(method, "/a", "x")


def test_invalid_template() -> None:
    with pytest.raises(TemplateError, match="must start with '/'"):
        Router[str]().add("GET", "a", "x")


def test_routes_in_insertion_order() -> None:
    router = _router(_ROUTES)
    listed = router.routes()
    assert [(m, t.template, x) for m, t, x in listed] == _ROUTES
    assert router.routes() is not router.routes()  # a copy


def test_empty_router() -> None:
    with pytest.raises(NoRoute, match="no route for path '/x'"):
        Router[str]().match("GET", "/x")


@pytest.mark.parametrize(
    ("path", "target", "values"),
    [
        ("/things:search", "search", {}),
        ("/thing%73:search", "search", {}),
        ("/things", "things", {}),
        ("/thing%73", "things", {}),
        ("/other", "one", {"name": "other"}),
        ("/things:other", "one", {"name": "things:other"}),
        ("/things/y", "var_y", {"x": "things"}),
        ("/things/z", "things_z", {}),
        ("/a%20b/z", "spaced", {}),
        ("/a b/z", "spaced", {}),
        ("/a:run", "run", {"rest": ""}),
        ("/a/b/c:run", "run", {"rest": "b/c"}),
        ("/zzz/1/2/3", "catch_all", {}),
    ],
)
def test_first_segment_index(path: str, target: str, values: dict[str, str]) -> None:
    # The router indexes templates by their first literal; templates whose first request segment may
    # carry the verb, or that start with a variable, must still be found under every first segment.
    router = _router(
        [
            ("GET", "/things:search", "search"),
            ("GET", "/things", "things"),
            ("GET", "/{name}", "one"),
            ("GET", "/{x}/y", "var_y"),
            ("GET", "/things/z", "things_z"),
            ("GET", "/a%20b/z", "spaced"),
            ("GET", "/a/{rest=**}:run", "run"),
            ("GET", "/**", "catch_all"),
        ]
    )
    assert router.match("GET", path) == (target, values)
