"""Webhook ingest throughput and latency against a real server over loopback.

Starts ``partner serve`` on a fresh SQLite (or ``--database-url``) database, registers a WhatsApp channel, then
for a fixed duration drives signed WhatsApp text webhooks (each a new message, so each is stored) from
``--concurrency`` connections, and measures the same server's bare ``GET /healthz`` the same way as a baseline.
Prints requests/s, p50 and p99 latency for both, and their ratio.

    .venv/bin/python benchmarks/bench_ingest.py --duration 10 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from loopback import Figures, free_port, print_table, wait_until_ok

from partner.platforms import whatsapp

ADMIN_TOKEN = "bench-admin-token-0123456789"
APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "109876543210"


def _payload(sequence: int) -> bytes:
    wa_id = f"62812{sequence % 5000:07d}"
    message = {"from": wa_id, "id": f"wamid.BENCH{sequence:012d}", "timestamp": str(int(time.time())), "type": "text"}
    message["text"] = {"body": f"Hello, I would like to order item number {sequence}. Is it still available?"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Bench Customer"}, "wa_id": wa_id}],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


async def _drive(
    name: str,
    url: str,
    duration: float,
    concurrency: int,
    make_request: Callable[[int], tuple[bytes | None, dict[str, str]]],
) -> Figures:
    latencies: list[float] = []
    errors = 0
    sequence = 0
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors, sequence
            while time.perf_counter() < deadline:
                sequence += 1
                body, headers = make_request(sequence)
                started = time.perf_counter()
                method = session.post if body is not None else session.get
                async with method(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Figures(name, len(latencies), errors, elapsed, latencies)


WRK_SCRIPT = Path(__file__).with_name("wrk_signed.lua")


async def _drive_wrk(
    name: str, url: str, duration: float, concurrency: int, workdir: Path, *, signed: bool, threads: int = 2
) -> Figures:
    """The same workload from wrk (C): the load generator costs far less CPU than the server it measures."""
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration:g}s", "--latency"]
    if signed:
        count = int(duration * 12_000)  # more unique messages than the server can take, so none repeats
        requests = workdir / "signed-requests.tsv"
        with requests.open("w") as out:
            for sequence in range(count):
                raw, headers = _signed(10_000_000 + sequence)  # clear of the warm-up's sequence numbers
                out.write(f"{headers['X-Hub-Signature-256']}\t{raw.decode()}\n")
        command += ["-s", str(WRK_SCRIPT), url, "--", str(requests), str(threads)]
    else:
        command += ["-s", str(WRK_SCRIPT.with_name("wrk_report.lua")), url]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    line = next(line for line in stdout.decode().splitlines() if line.startswith("RESULT "))
    total, errors, seconds, p50, p99 = line.split()[1:]
    figures = Figures(name, int(total), int(errors), float(seconds), [])
    figures.fixed_percentiles = {0.5: float(p50), 0.99: float(p99)}
    return figures


def _signed(sequence: int) -> tuple[bytes, dict[str, str]]:
    raw = _payload(sequence)
    return raw, {**whatsapp.sign(raw, APP_SECRET.encode()), "Content-Type": "application/json"}


async def _register(base: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{base}/api/v1/workspaces", json={"name": "Bench"}) as response:
            workspace_id = (await response.json())["id"]
        channel = {
            "workspace_id": workspace_id,
            "platform": "whatsapp",
            "external_id": PHONE_NUMBER_ID,
            "secrets": {"access_token": "bench-token"},
        }
        async with session.post(f"{base}/api/v1/channels", json=channel) as response:
            assert response.status == 201, await response.text()


def _start_server(database_url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTNER_DATABASE_URL": database_url,
        "PARTNER_PORT": str(port),
        "PARTNER_ADMIN_TOKEN": ADMIN_TOKEN,
        "PARTNER_META_APP_SECRET": APP_SECRET,
        "PARTNER_STATE_DIR": str(workdir / "state"),
        "PARTNER_LOG_LEVEL": "warning",
        "PARTNER_LOG_FORMAT": "json",
        "PARTNER_RUN_WORKERS": "false",
    }
    return subprocess.Popen([sys.executable, "-m", "partner", "serve"], env=env, cwd=workdir)


async def _wait_ready(base: str) -> None:
    await wait_until_ok(f"{base}/readyz", what="the service")


async def _server_histogram(base: str, route: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) buckets of the server's own latency histogram for one route."""
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        text = await response.text()
    buckets = []
    for line in text.splitlines():
        if line.startswith("partner_http_request_duration_seconds_bucket") and f'route="{route}"' in line:
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    return sorted(buckets)


def _bucket_percentile(buckets: list[tuple[float, float]], share: float) -> float:
    total = buckets[-1][1] if buckets else 0
    return next((bound for bound, count in buckets if count >= share * total), float("nan"))


def _report(figures: list[Figures], concurrency: int) -> None:
    print_table(figures, concurrency)
    ingest, health = figures
    print(f"ingest / healthz throughput ratio: {ingest.rate / health.rate:.2f}")
    print(f"median latency of ingest: {ingest.percentile(0.5):.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--driver",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk (C, Debian package 'wrk') when installed, else Python's aiohttp client",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(args.database_url or f"sqlite:///{workdir}/bench.db", port, workdir)
        try:
            await _wait_ready(base)
            await _register(base)
            await _drive("warm-up", f"{base}/webhooks/whatsapp", 1.0, 8, _signed)
            use_wrk = args.driver == "wrk" or (args.driver == "auto" and shutil.which("wrk") is not None)
            if use_wrk:
                ingest = await _drive_wrk(
                    "signed webhooks (wrk)", f"{base}/webhooks/whatsapp", args.duration, args.concurrency, workdir,
                    signed=True,
                )  # fmt: skip
                histogram = await _server_histogram(base, "/webhooks/whatsapp")
                health = await _drive_wrk(
                    "GET /healthz (wrk)", f"{base}/healthz", args.duration, args.concurrency, workdir, signed=False
                )
            else:
                ingest = await _drive(
                    "signed webhooks", f"{base}/webhooks/whatsapp", args.duration, args.concurrency, _signed
                )
                histogram = await _server_histogram(base, "/webhooks/whatsapp")
                health = await _drive(
                    "GET /healthz", f"{base}/healthz", args.duration, args.concurrency, lambda _: (None, {})
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    _report([ingest, health], args.concurrency)
    p50, p99 = (_bucket_percentile(histogram, share) * 1000 for share in (0.5, 0.99))
    print(f"server-side webhook latency (from /metrics, bucket upper bounds): p50 <= {p50:g} ms, p99 <= {p99:g} ms")


if __name__ == "__main__":
    asyncio.run(main())
