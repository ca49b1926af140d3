"""What the edge needs of its channel to the core: a grpc.aio.Channel, or the in-process channel of a core in the
same process (`astra serve`), which calls the same methods with the same metadata and statuses."""

from __future__ import annotations

from contract.stubs import Channel as CoreChannel

__all__ = ["CoreChannel"]
