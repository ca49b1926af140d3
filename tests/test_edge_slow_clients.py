"""A client that sends its request headers slowly (slowloris) is cut off; a normal one is not."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.harness import GatewayThread

HEADER_TIMEOUT_S = 0.6
KEEPALIVE_S = 2.0
GATEWAY_OPTIONS = {"settings": {"http_header_timeout_s": HEADER_TIMEOUT_S, "http_keepalive_s": KEEPALIVE_S}}


async def closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes) -> float:
    """Sends `trickle` a byte every 0.1 s until the server closes the connection (at most 5 s); seconds taken."""
    start = time.monotonic()
    for byte in trickle:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        try:
            if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                break
        except TimeoutError:
            pass
        if time.monotonic() - start > 5:
            pytest.fail("the server kept a slow connection open for 5 s")
    return time.monotonic() - start


async def test_headers_sent_a_byte_at_a_time_are_cut_off(gateway: GatewayThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    # Never finishes its head: the blank line that would end it never comes.
    took = await closed_after(reader, writer, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200)
    writer.close()
    assert HEADER_TIMEOUT_S * 0.8 < took < HEADER_TIMEOUT_S + 1.5, took


async def test_a_connection_that_sends_nothing_is_closed(gateway: GatewayThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(1), 5) == b""
    assert time.monotonic() - start < HEADER_TIMEOUT_S + 1.5
    writer.close()


async def read_ok_response(reader: asyncio.StreamReader) -> None:
    """Reads one 200 response, head and body (its length varies: /health reports uptime)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    await asyncio.wait_for(reader.readexactly(int(length.split(b":")[1])), 5)


async def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(gateway: GatewayThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await read_ok_response(reader)
    # Idle longer than the header deadline: that is the keep-alive timeout's business, not a slow head.
    await asyncio.sleep(HEADER_TIMEOUT_S * 1.5)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await read_ok_response(reader)
    # A slow second head is cut off like a first one.
    took = await closed_after(reader, writer, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200)
    writer.close()
    assert took < HEADER_TIMEOUT_S + 1.5, took


async def test_a_slow_body_and_a_long_stream_are_not_cut_off(gateway: GatewayThread) -> None:
    """The deadline is on the head only: a body that takes longer than it still reaches the core."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    body = b'{"email": "nobody@example.com", "password": "wrong password"}'
    writer.write(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    await writer.drain()
    for i in range(0, len(body), 8):
        writer.write(body[i : i + 8])
        await writer.drain()
        await asyncio.sleep(HEADER_TIMEOUT_S / 4)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 401"), head


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(gateway: GatewayThread) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await read_ok_response(reader)
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(1), KEEPALIVE_S + 5) == b""
    writer.close()
    assert KEEPALIVE_S * 0.8 < time.monotonic() - start < KEEPALIVE_S + 2
