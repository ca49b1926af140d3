"""Pacing of background CPU work against live turns (server.foreground), on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from server.foreground import LINGER_S, Foreground, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_foreground_is_busy_while_a_turn_runs_and_shortly_after() -> None:
    clock = Clock()
    foreground = Foreground(clock)
    assert not foreground.busy()
    with foreground.hold(), foreground.hold():
        assert foreground.busy() and foreground.active == 2
    assert foreground.active == 0
    clock.now += LINGER_S / 2
    assert foreground.busy()  # the client's next turn usually follows at once
    clock.now += LINGER_S
    assert not foreground.busy()


def test_a_turn_that_fails_still_releases_the_foreground() -> None:
    foreground = Foreground(Clock())
    with pytest.raises(RuntimeError), foreground.hold():
        raise RuntimeError("provider down")
    assert foreground.active == 0


def test_the_pacer_holds_work_to_its_share_only_while_turns_run() -> None:
    clock = Clock()
    foreground = Foreground(clock)
    quarter = Pacer(foreground, 0.25)
    assert quarter.pause(0.2) == 0  # nothing live: full speed
    with foreground.hold():
        assert quarter.pause(0.2) == pytest.approx(0.6)  # 0.2 s of work in every 0.8 s
        assert Pacer(foreground, 1.0).pause(0.2) == 0  # share 1: never gives way
    clock.now += 2 * LINGER_S
    assert quarter.pause(0.2) == 0


async def test_a_pause_ends_when_the_turns_it_gives_way_to_are_over() -> None:
    clock = Clock()
    foreground = Foreground(clock)
    pacer = Pacer(foreground, 0.5)
    stop = asyncio.Event()
    with foreground.hold():
        waiting = asyncio.ensure_future(pacer.give_way(30.0, stop))  # 30 s at a half share, while turns go on
        await asyncio.sleep(0.3)
        assert not waiting.done()
    clock.now += LINGER_S  # the last turn ended a while ago
    waited = await asyncio.wait_for(waiting, 2)
    assert 0.3 <= waited < 2

    with foreground.hold():
        waiting = asyncio.ensure_future(pacer.give_way(30.0, stop))
        await asyncio.sleep(0.1)
        stop.set()  # shutdown does not wait for the pause either
        assert await asyncio.wait_for(waiting, 2) < 2
    clock.now += LINGER_S
    assert await pacer.give_way(30.0, asyncio.Event()) == 0  # nothing live: no pause at all
