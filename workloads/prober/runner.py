"""Run a batch of probes concurrently (bounded) and return results in input order.

One asyncio loop, a fixed number of workers: a probe is mostly waiting, so thousands of
probes (and hundreds in flight, e.g. while drops run into their timeouts) cost one
thread and little memory; threads would fight over the GIL instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workloads.prober import http_probe, icmp_probe, tcp_probe, tls_probe
from workloads.prober.netio import DNS_TIMEOUT, ERROR, Conn, Failure, classify
from workloads.prober.spec import (
    DnsProbe,
    GrpcProbe,
    HttpProbe,
    IcmpProbe,
    ProbeSpec,
    SpecError,
    TlsProbe,
    parse,
    probe_id,
)

DEFAULT_CONCURRENCY = 64
MAX_CONCURRENCY = 1024
DEFAULT_TIMEOUT_S = 5.0
# Host names are resolved by getaddrinfo in threads; a few dozen cover slow resolvers.
MAX_RESOLVER_THREADS = 64


async def _dispatch(spec: ProbeSpec, conn: Conn) -> dict[str, Any]:
    if isinstance(spec, HttpProbe):
        return await http_probe.run(spec, conn)
    # gRPC and DNS pull in h2, protobuf and dnspython: imported on first use, so an
    # HTTP-only batch starts faster.
    if isinstance(spec, GrpcProbe):
        from workloads.prober import grpc_probe

        return await grpc_probe.run(spec, conn)
    if isinstance(spec, DnsProbe):
        from workloads.prober import dns_probe

        return await dns_probe.run(spec, conn)
    if isinstance(spec, IcmpProbe):
        return await icmp_probe.run(spec, conn)
    if isinstance(spec, TlsProbe):
        return await tls_probe.run(spec, conn)
    return await tcp_probe.run(spec, conn)


def _deadline_failure(spec: ProbeSpec, conn: Conn) -> Failure:
    if isinstance(spec, DnsProbe) and conn.phase == "query":
        return Failure(DNS_TIMEOUT, f"no answer from {conn.remote} within {spec.timeout:g}s",
                       {"phase": conn.phase})
    return classify(TimeoutError(), conn.phase, spec.timeout)


async def run_one(raw: Any, default_timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """One probe object in, one result out; never raises."""
    start = time.monotonic()
    conn = Conn()
    head: dict[str, Any] = {"id": probe_id(raw)}
    if isinstance(raw, dict) and isinstance(raw.get("kind"), str):
        head["kind"] = raw["kind"]
    body: dict[str, Any]
    try:
        spec = parse(raw, default_timeout)
    except SpecError as exc:
        body = {"outcome": ERROR, "error": f"bad probe: {exc}"}
    except Exception as exc:  # a validator gap must not take the batch down either
        body = {"outcome": ERROR, "error": f"bad probe: unexpected {type(exc).__name__}: {exc}"}
    else:
        try:
            async with asyncio.timeout(spec.timeout):
                body = await _dispatch(spec, conn)
        except Failure as failure:
            body = failure.result()
        except TimeoutError:
            body = _deadline_failure(spec, conn).result()
        except OSError as exc:
            body = classify(exc, conn.phase, spec.timeout).result()
        except Exception as exc:  # a probe must never take the batch down with it
            body = {"outcome": ERROR, "error": f"unexpected {type(exc).__name__}: {exc}"}
    result = {**head, "outcome": body.pop("outcome"), **body}
    result["elapsed_ms"] = round((time.monotonic() - start) * 1000, 2)
    result["local"] = conn.local
    result["remote"] = conn.remote
    return result


async def run_batch_async(probes: Sequence[Any], concurrency: int = DEFAULT_CONCURRENCY,
                          default_timeout: float = DEFAULT_TIMEOUT_S) -> list[dict[str, Any]]:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1-{MAX_CONCURRENCY}, got {concurrency}")
    results: list[dict[str, Any]] = [{} for _ in probes]
    pending = iter(range(len(probes)))

    async def worker() -> None:
        for index in pending:  # shared iterator: each index is taken by one worker
            results[index] = await run_one(probes[index], default_timeout)

    workers = min(concurrency, len(probes))
    loop = asyncio.get_running_loop()
    resolvers = ThreadPoolExecutor(max_workers=min(workers or 1, MAX_RESOLVER_THREADS),
                                   thread_name_prefix="resolve")
    loop.set_default_executor(resolvers)
    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


def run_batch(probes: Sequence[Any], concurrency: int = DEFAULT_CONCURRENCY,
              default_timeout: float = DEFAULT_TIMEOUT_S) -> list[dict[str, Any]]:
    """Run the batch on a fresh event loop (for callers without one)."""
    return asyncio.run(run_batch_async(probes, concurrency, default_timeout))
