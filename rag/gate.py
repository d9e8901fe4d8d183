"""Admission for the served interfaces (HTTP API, MCP over HTTP): a bounded number of calls into the assistant at
once and a bounded queue; beyond it a call is refused at once with `Busy` (the API answers 429, MCP a tool error)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .errors import Busy

T = TypeVar("T")


class Gate:
    """At most `workers` calls into the assistant at once, at most `queue` more waiting; beyond that a request is
    refused at once with 429 instead of piling up. Counted in the event loop, so no lock is needed."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(workers)
        self.capacity = workers + queue
        self.active = 0
        self.peak = 0
        self.served = 0
        self.refused = 0

    def admit(self) -> None:
        if self.active >= self.capacity:
            self.refused += 1
            raise Busy(f"The server is busy ({self.active} requests in progress or waiting); retry shortly.")
        self.active += 1
        self.peak = max(self.peak, self.active)

    def release(self) -> None:
        self.active -= 1
        self.served += 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.admit()
        try:
            yield
        finally:
            self.release()

    def stats(self) -> dict[str, int]:
        return {"active": self.active, "capacity": self.capacity, "peak": self.peak, "served": self.served,
                "refused": self.refused}
