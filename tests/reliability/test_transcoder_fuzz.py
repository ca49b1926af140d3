"""Property tests of the transcoder: whatever a client sends, the edge answers with a clean refusal (EdgeError,
i.e. a 4xx) or a well-formed request message, never an exception that would become a 500."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.routes import load_routes
from edge.errors import EdgeError
from edge.pattern import TemplateError, compile_template
from edge.transcode import build_request

ROUTES = load_routes()
SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-._~%:@!$&'()*+,;= \u00e9\u4e2d", max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=40))
def test_any_template_text_compiles_or_is_refused_cleanly(text: str) -> None:
    try:
        template = compile_template(text)
    except TemplateError:
        return
    assert template.template == text


@FUZZ
@given(st.sampled_from(ROUTES), st.lists(SEGMENT, min_size=0, max_size=6))
def test_any_path_matches_or_not_without_crashing(route, segments: list[str]) -> None:
    template = compile_template(route.template)
    path = "/" + "/".join(segments)
    try:
        bindings = template.match(path)
    except UnicodeDecodeError:
        return  # the edge turns this into a 400
    if bindings is not None:
        assert set(bindings) == set(template.variables)


@FUZZ
@given(
    st.sampled_from(ROUTES),
    JSON_VALUES,
    st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=4),
)
def test_any_body_and_query_give_a_message_or_a_clean_refusal(route, document, query) -> None:
    bindings = {name: "x" for name in compile_template(route.template).variables}
    raw = json.dumps(document).encode()
    try:
        message = build_request(route, bindings, query, raw, "application/json")
    except EdgeError as exc:
        assert 400 <= exc.status < 500
        return
    assert message.DESCRIPTOR.full_name == route.method.input_type.full_name


@FUZZ
@given(st.sampled_from([r for r in ROUTES if r.body]), st.binary(max_size=200))
def test_arbitrary_bytes_as_body_are_refused_cleanly(route, raw: bytes) -> None:
    bindings = {name: "x" for name in compile_template(route.template).variables}
    try:
        build_request(route, bindings, [], raw, "application/json")
    except EdgeError as exc:
        assert 400 <= exc.status < 500
