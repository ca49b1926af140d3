"""Retries before the first token and the circuit breaker, with a recorded sleep and an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from server.providers.base import ChatMessage, CompletionRequest, Finish, ProviderError, StreamEvent, TextDelta
from server.providers.openai import OpenAIProvider
from server.providers.resilience import CircuitBreaker, stream_with_retries
from tests.providers.fake_vendors import (
    FakeVendor,
    Reply,
    collect,
    collect_until_error,
    openai_error,
    openai_text_stream,
)

REQUEST = CompletionRequest(model="m", messages=(ChatMessage("user", "hi"),))
OK: list[StreamEvent | ProviderError] = [TextDelta("ok"), Finish(1, 1, "stop")]


def failure(status: int, retry_after: float | None = None) -> ProviderError:
    retryable = status in (0, 429) or status >= 500
    return ProviderError("scripted", f"HTTP {status}", status=status, retryable=retryable, retry_after=retry_after)


class ScriptedProvider:
    """Each call plays the next script: events are yielded, a ProviderError is raised where it stands."""

    name = "scripted"

    def __init__(self, *scripts: Sequence[StreamEvent | ProviderError]):
        self.scripts = list(scripts)
        self.calls = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        script = self.scripts[min(self.calls, len(self.scripts) - 1)]
        self.calls += 1
        for step in script:
            if isinstance(step, ProviderError):
                raise step
            yield step

    async def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("scripted", clock=clock, wall_clock=lambda: 1_700_000_000.0)


def retrying(provider: ScriptedProvider, breaker: CircuitBreaker, sleeps: Sleeps, **kwargs: object):
    return stream_with_retries(provider, REQUEST, breaker, sleep=sleeps, rand=lambda: 1.0, **kwargs)  # type: ignore[arg-type]


async def test_a_500_then_a_200_over_http_is_retried_once(sleeps: Sleeps) -> None:
    async with FakeVendor() as vendor:
        vendor.script(
            Reply(status=500, body=openai_error("The server had an error", "server_error")),
            Reply(chunks=openai_text_stream(["recovered"])),
        )
        provider = OpenAIProvider("sk-test", f"{vendor.url}/v1")
        breaker = CircuitBreaker("openai")
        try:
            events = await collect(stream_with_retries(provider, REQUEST, breaker, sleep=sleeps))
        finally:
            await provider.close()
    assert events[0] == TextDelta("recovered") and isinstance(events[-1], Finish)
    assert len(vendor.requests) == 2
    assert len(sleeps.delays) == 1 and 0 <= sleeps.delays[0] <= 0.5  # full jitter under base_delay
    assert breaker.state == "closed" and breaker.consecutive_failures == 0
    assert "HTTP 500" in breaker.last_error  # the failure stays visible for the health endpoint


async def test_backoff_doubles_and_a_longer_retry_after_wins(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([failure(503)], [failure(502)], [failure(429, retry_after=3.0)], OK)
    events = await collect(retrying(provider, breaker, sleeps, attempts=4))
    assert events == [TextDelta("ok"), Finish(1, 1, "stop")]
    assert sleeps.delays == [0.5, 1.0, 3.0]


async def test_backoff_is_capped_at_max_delay(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider(*([failure(500)] for _ in range(4)), OK)  # a fifth failure would open the breaker
    await collect(retrying(provider, breaker, sleeps, attempts=5, base_delay=1.0, max_delay=4.0))
    assert sleeps.delays == [1.0, 2.0, 4.0, 4.0]


async def test_a_retry_after_beyond_30_seconds_is_not_waited_for(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([failure(429, retry_after=120.0)], OK)
    _, error = await collect_until_error(retrying(provider, breaker, sleeps))
    assert (error.status, provider.calls, sleeps.delays) == (429, 1, [])


async def test_gives_up_after_the_last_attempt(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([failure(500)])
    _, error = await collect_until_error(retrying(provider, breaker, sleeps, attempts=3))
    assert (error.status, provider.calls, len(sleeps.delays)) == (500, 3, 2)


async def test_no_retry_once_the_first_event_was_yielded(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([TextDelta("Hel"), failure(502)], OK)
    events, error = await collect_until_error(retrying(provider, breaker, sleeps))
    assert events == [TextDelta("Hel")]
    assert (error.status, provider.calls, sleeps.delays) == (502, 1, [])


async def test_non_retryable_errors_are_raised_at_once(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([failure(401)], OK)
    _, error = await collect_until_error(retrying(provider, breaker, sleeps))
    assert (error.status, provider.calls, sleeps.delays) == (401, 1, [])


async def test_breaker_opens_after_five_failures_and_rejects(
    breaker: CircuitBreaker, sleeps: Sleeps, clock: Clock
) -> None:
    provider = ScriptedProvider([failure(500)])
    for _ in range(5):
        assert breaker.state == "closed"
        await collect_until_error(retrying(provider, breaker, sleeps, attempts=1))
        clock.now += 5

    assert breaker.state == "open"
    assert (breaker.consecutive_failures, breaker.last_error, breaker.last_error_at) == (
        5,
        "scripted: HTTP 500",
        1_700_000_000.0,
    )
    _, error = await collect_until_error(retrying(provider, breaker, sleeps))
    assert (error.message, error.status, error.retryable) == ("circuit open", 503, False)
    assert provider.calls == 5  # the rejected call never reached the provider


async def test_retries_stop_when_the_breaker_opens_and_report_the_real_error(
    breaker: CircuitBreaker, sleeps: Sleeps
) -> None:
    provider = ScriptedProvider([failure(503)])
    await collect_until_error(retrying(provider, breaker, sleeps, attempts=3))  # 3 failures
    _, error = await collect_until_error(retrying(provider, breaker, sleeps, attempts=3))  # 2 more open it
    assert breaker.state == "open"
    assert provider.calls == 5
    assert error.status == 503 and error.message == "HTTP 503"


async def test_failures_spread_beyond_the_window_do_not_open_it(
    breaker: CircuitBreaker, sleeps: Sleeps, clock: Clock
) -> None:
    provider = ScriptedProvider([failure(0)])
    for _ in range(8):
        await collect_until_error(retrying(provider, breaker, sleeps, attempts=1))
        clock.now += 20  # at most 4 failures in any 60 s
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 8


async def test_a_success_resets_the_count(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    failing, healthy = ScriptedProvider([failure(500)]), ScriptedProvider(OK)
    for _ in range(4):
        await collect_until_error(retrying(failing, breaker, sleeps, attempts=1))
    await collect(retrying(healthy, breaker, sleeps))
    for _ in range(4):
        await collect_until_error(retrying(failing, breaker, sleeps, attempts=1))
    assert breaker.state == "closed"


async def test_half_open_probe_success_closes(breaker: CircuitBreaker, sleeps: Sleeps, clock: Clock) -> None:
    failing = ScriptedProvider([failure(500)])
    for _ in range(5):
        await collect_until_error(retrying(failing, breaker, sleeps, attempts=1))
    clock.now += 29.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half_open"

    events = await collect(retrying(ScriptedProvider(OK), breaker, sleeps))

    assert events[-1] == Finish(1, 1, "stop")
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 0)


async def test_half_open_probe_failure_reopens(breaker: CircuitBreaker, sleeps: Sleeps, clock: Clock) -> None:
    failing = ScriptedProvider([failure(500)])
    for _ in range(5):
        await collect_until_error(retrying(failing, breaker, sleeps, attempts=1))
    clock.now += 30

    _, error = await collect_until_error(retrying(failing, breaker, sleeps, attempts=3))

    assert error.status == 500 and failing.calls == 6  # exactly one probe went through, no retries behind it
    assert breaker.state == "open"
    clock.now += 29
    _, rejected = await collect_until_error(retrying(failing, breaker, sleeps))
    assert rejected.message == "circuit open"


def test_half_open_lets_only_one_probe_through(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(5):
        breaker.record_failure("boom")
    clock.now += 30
    breaker.before_call()  # the probe
    with pytest.raises(ProviderError, match="circuit open"):
        breaker.before_call()
    breaker.release()  # the probe was cancelled: no verdict, the next caller probes
    breaker.before_call()


async def test_400s_do_not_trip_the_breaker(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    provider = ScriptedProvider([failure(400)])
    for _ in range(10):
        await collect_until_error(retrying(provider, breaker, sleeps))
    assert (breaker.state, breaker.consecutive_failures, breaker.last_error_at) == ("closed", 0, None)


async def test_an_abandoned_stream_closes_the_provider_stream(breaker: CircuitBreaker, sleeps: Sleeps) -> None:
    closed: list[bool] = []

    class Endless(ScriptedProvider):
        async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
            try:
                while True:
                    yield TextDelta("more")
            finally:
                closed.append(True)

    stream = retrying(Endless(), breaker, sleeps)
    assert await anext(stream) == TextDelta("more")
    await stream.aclose()
    assert closed == [True]
    assert breaker.state == "closed" and breaker.consecutive_failures == 0
