"""Provider tests talk to a FakeVendor on this test's own event loop, not the module-wide VendorThread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.providers.fake_vendors import FakeVendor


@pytest.fixture
async def vendor() -> AsyncIterator[FakeVendor]:
    async with FakeVendor() as server:
        yield server
