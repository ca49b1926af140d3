"""Retries with backoff before the first token, and a per-provider circuit breaker."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable

from server.providers.base import CompletionRequest, Provider, ProviderError, StreamEvent

# A vendor asking us to wait longer than this is effectively down; failing fast beats a hung chat turn.
MAX_RETRY_AFTER = 30.0


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive failures within `window_seconds`; open rejects calls for
    `open_seconds`, then half-open lets one probe through: its success closes the breaker, its failure re-opens it."""

    def __init__(
        self,
        name: str = "",
        *,
        failure_threshold: int = 5,
        window_seconds: float = 60.0,
        open_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.open_seconds = open_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._failures: deque[float] = deque()  # clock times of the failures since the last success
        self._state = "closed"
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.consecutive_failures = 0
        self.last_error: str = ""
        self.last_error_at: float | None = None  # epoch seconds, for the health endpoint

    @property
    def state(self) -> str:
        """closed, open, or half_open once the cool-down is over (the next call is the probe)."""
        if self._state == "open" and self._clock() - self._opened_at >= self.open_seconds:
            self._state = "half_open"
        return self._state

    def before_call(self, provider: str = "") -> None:
        """Raises ProviderError (status 503, not retryable) when the call must not reach the provider."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return
        remaining = max(0.0, self.open_seconds - (self._clock() - self._opened_at))
        raise ProviderError(
            provider=provider or self.name,
            message="circuit open",
            status=503,
            retryable=False,
            retry_after=remaining or None,
            details={"last_error": self.last_error},
        )

    def record_success(self) -> None:
        self._failures.clear()
        self.consecutive_failures = 0
        self._probe_in_flight = False
        self._state = "closed"

    def record_failure(self, error: BaseException | str) -> None:
        now = self._clock()
        self.consecutive_failures += 1
        self.last_error = str(error)
        self.last_error_at = self._wall_clock()
        if self._state == "half_open":
            self._open(now)  # the probe failed
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window_seconds:
            self._failures.popleft()
        if self._state == "closed" and len(self._failures) >= self.failure_threshold:
            self._open(now)

    def release(self) -> None:
        """The call ended without saying anything about the provider's health (cancelled, or the caller's own
        mistake): free the half-open probe slot so the next call can probe."""
        self._probe_in_flight = False

    def _open(self, now: float) -> None:
        self._state = "open"
        self._opened_at = now
        self._probe_in_flight = False
        self._failures.clear()


def counts_against_provider(error: ProviderError) -> bool:
    # A 400/401/404 is our request or configuration, not the provider being unhealthy.
    return error.status == 0 or error.status == 429 or error.status >= 500


def backoff_delay(
    attempt: int, base_delay: float, max_delay: float, retry_after: float | None, rand: Callable[[], float]
) -> float:
    """Full jitter over an exponential ceiling; a vendor's retry-after wins when it asks for longer."""
    delay = rand() * min(max_delay, base_delay * 2 ** (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def stream_with_retries(
    provider: Provider,
    request: CompletionRequest,
    breaker: CircuitBreaker,
    *,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> AsyncGenerator[StreamEvent, None]:
    """Streams `request`, retrying retryable errors only while nothing has been yielded (so output is never
    duplicated), and reports each attempt's outcome to the breaker."""
    last_error: ProviderError | None = None
    for attempt in range(1, attempts + 1):
        try:
            breaker.before_call(provider.name)
        except ProviderError:
            if last_error is not None:
                raise last_error from None  # the breaker opened during our retries: the real error says more
            raise
        yielded = False
        events = provider.stream(request)
        try:
            try:
                async for event in events:
                    yielded = True
                    yield event
            finally:
                # Close the provider's generator now, so its HTTP response is released even when we stop early.
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()
        except ProviderError as error:
            if counts_against_provider(error):
                breaker.record_failure(error)
            else:
                breaker.release()
            if yielded or not error.retryable or attempt >= attempts:
                raise
            if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
                raise
            if breaker.state == "open":
                raise  # this failure opened it: waiting would only end in a rejection
            last_error = error
            await sleep(backoff_delay(attempt, base_delay, max_delay, error.retry_after, rand))
            continue
        except BaseException:
            breaker.release()  # cancelled, closed by the caller, or a bug: no verdict on the provider
            raise
        breaker.record_success()
        return
