"""What the loopback benchmarks share: a free port, waiting for a server, and one results table."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Figures:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    fixed_percentiles: dict[float, float] = field(default_factory=dict)  # ms, when the driver reports them

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        if share in self.fixed_percentiles:
            return self.fixed_percentiles[share]
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_ok(url: str, *, attempts: int = 300, what: str = "server") -> None:
    """Poll ``url`` every 0.1 s until it answers 200."""
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def print_table(figures: Iterable[Figures], concurrency: int) -> None:
    print(f"\nconcurrency {concurrency}, loopback, one server process")
    print(f"{'workload':<22}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for figure in figures:
        print(
            f"{figure.name:<22}{figure.requests:>10}{figure.errors:>8}{figure.rate:>10.0f}"
            f"{figure.percentile(0.50):>9.1f}{figure.percentile(0.99):>9.1f}"
        )
