"""Dispatch benchmark: the daemon against a bare httpx loop, and start-up with a big plan.

    python bench/dispatch.py                 # 10,000 reminders due at once + 100,000 planned
    python bench/dispatch.py --due 2000 --planned 20000   # a quicker run

Parts, each measured in its own process so peak memory (ru_maxrss) is its own:
1. `bare`: an httpx.AsyncClient loop POSTing the same signed JSON bodies to the same local
   receiver, at the same concurrency: the reference throughput.
2. `due`: the daemon (store on SQLite, a webhook notifier, one request per reminder) with N
   reminders due at the same moment: deliveries/s, delay from due time to receipt (median,
   p99), peak memory. The daemon claims and renders what falls due within PREPARE_AHEAD
   (2 s) before its time, as the bare loop has its bodies ready before it starts; its CPU
   is reported both from the due time and from just before that preparation.
3. `startup`: the daemon starting with M future reminders (events loaded, synced, planned into
   the store, the wake-up armed): time and peak memory.
`bare` and `due` alternate for `--rounds` rounds; the ratio reported is the median of the
rounds' ratios, each bare run against the daemon run right after it, so that the machine's
drift between runs (seen: a quarter within minutes) falls on both sides of a ratio.

With two CPUs or more, the receiver runs on one CPU and every measured part on another
(`--no-pin` turns this off). Unpinned, the scheduler moved the client onto the receiver's
CPU now and then, which made the client's CPU time per request swing by a third between
runs. Each part is one event loop, so it gets one CPU either way; a daemon's store thread
shares that CPU with its loop, as it shares the GIL.
Only 127.0.0.1 is used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# ── the receiver: a separate process that records (webhook-id, arrival time) ──────────
def receiver_main(port_file: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    seen: list[tuple[str, float]] = []

    async def hook(request: Request) -> Response:
        await request.body()
        seen.append((request.headers.get("webhook-id", ""), time.time()))
        return Response(b"", 204)

    async def stats(request: Request) -> Response:
        out: dict = {"count": len(seen)}
        if request.query_params.get("full"):
            out["arrivals"] = seen[:]
        if request.query_params.get("reset"):
            seen.clear()
        return JSONResponse(out)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/stats", stats)])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    Path(port_file).write_text(str(sock.getsockname()[1]))
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                  backlog=4096)).run(sockets=[sock])


def _stats(port: int, reset: bool = False, full: bool = False) -> dict:
    # Plain http.client: httpx.get builds an SSL context per call, which cost the daemon
    # under test a tenth of its CPU when polled from its own process.
    import http.client

    query = "&".join(q for q, on in (("reset=1", reset), ("full=1", full)) if on)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", f"/stats?{query}")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _wait_count(port: int, n: int, limit: float) -> float:
    deadline = time.time() + limit
    while time.time() < deadline:
        if _stats(port)["count"] >= n:
            return time.time()
        time.sleep(0.25)  # light polling: the daemon under test shares this process
    raise TimeoutError(f"receiver got {_stats(port)['count']} of {n} within {limit} s")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ── 1. bare httpx loop ────────────────────────────────────────────────────────────────
def _same_bodies(n: int) -> list[tuple[str, bytes]]:
    """The exact (webhook-id, body) pairs the daemon sends for the `due` part's timeline,
    rendered by the same code, so the receiver does the same work in both parts."""
    from notifiers._http import json_bytes
    from notifiers.webhook import payload
    from timeline.loader import load_timeline
    from timeline.messages import ReminderLine, reminder_message

    tmp = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    due = datetime.now(UTC).replace(microsecond=0)
    _events_yaml(tmp / "events.yaml", n, due)
    timeline = load_timeline(tmp / "events.yaml").timeline
    today = due.date()
    out = []
    for event in timeline.events:
        key = f"{event.id}/{due:%Y-%m-%dT%H%M%z}/0m/ops"
        line = ReminderLine(key=key, event=event, story=timeline.story(event.story),
                            anchor="due", occurrence=event.due, lead="0m", due=due)
        message = reminder_message(key, [line], today=today, lang="zh",
                                   feed_url="http://127.0.0.1:8080/calendar.ics")
        out.append((key, json_bytes(payload(message))))
    return out


def bare_main(port: int, n: int, concurrency: int) -> dict:
    import httpx

    from notifiers.webhook import sign

    bodies = _same_bodies(n)

    async def go() -> float:
        queue = list(reversed(bodies))
        async with httpx.AsyncClient(timeout=30) as client:
            async def worker() -> None:
                while queue:
                    key, body = queue.pop()
                    stamp = int(time.time())
                    await client.post(f"http://127.0.0.1:{port}/hook", content=body, headers={
                        "content-type": "application/json; charset=utf-8", "webhook-id": key,
                        "webhook-timestamp": str(stamp),
                        "webhook-signature": sign(SECRET, key, stamp, body)})

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - start

    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = usage.ru_utime + usage.ru_stime
    seconds = _run(go())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = (usage.ru_utime + usage.ru_stime - before) * 1000 / n
    return {"requests": n, "seconds": seconds, "per_second": n / seconds, "cpu_ms": cpu_ms,
            "body_bytes": sum(len(b) for _, b in bodies) / n, "peak_mb": _peak_mb()}


# ── shared: a timeline of N timed deadlines ───────────────────────────────────────────
def _events_yaml(path: Path, n: int, due: datetime, spread: timedelta = timedelta(0),
                 leads: str = "0m") -> None:
    lines = ["stories:",
             "  - {id: bench, title: 基准测试, source: {newspaper: bench}, published: 2024-04-10}",
             "events:"]
    for i in range(n):
        when = (due + spread * i).isoformat(timespec="milliseconds")
        lines.append(f"  - {{id: e{i}, story: bench, kind: deadline, title: 截止事项{i}, "
                     f"source: 原文, due: \"{when}\", reminders: [{leads}]}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _settings(tmp: Path, port: int, concurrency: int) -> object:
    from timeline.config import parse_settings

    text = f"""
events: {tmp / 'events.yaml'}
store: sqlite:///{tmp / 'bench.db'}
server: {{enabled: false}}
reminders: {{concurrency: {concurrency}, catch_up: 1h}}
notifiers:
  ops: {{type: webhook, url: "http://127.0.0.1:{port}/hook", secret: "{SECRET}", group: false}}
routes:
  - {{notify: [ops]}}
"""
    return parse_settings(text, "bench-config.yaml")


# ── 2. the daemon, N reminders due at once ────────────────────────────────────────────
def due_main(port: int, n: int, concurrency: int, spread_ms: int = 0) -> dict:
    """N reminders due at once (spread_ms=0), or one every `spread_ms` (normal load)."""
    from timeline.cli import setup_logging
    from timeline.daemon import Daemon
    from timeline.delivery import PREPARE_AHEAD

    setup_logging(verbose=False)  # INFO to stderr, as `timeline run` logs
    tmp = Path(tempfile.mkdtemp(prefix="bench-due-"))
    # Far enough ahead for load + plan + store of N events before they fall due.
    due = (datetime.now(UTC) + timedelta(seconds=8 + n / 1500)).replace(microsecond=0)
    spread = timedelta(milliseconds=spread_ms)
    _events_yaml(tmp / "events.yaml", n, due, spread=spread)
    daemon = Daemon(_settings(tmp, port, concurrency), serve=False)  # type: ignore[arg-type]

    cpu: list[float] = []

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def go() -> float:
        task = asyncio.ensure_future(daemon.run())
        # The daemon claims and renders what falls due within PREPARE_AHEAD before its time
        # (as the bare loop has its bodies ready before it starts): CPU is counted from just
        # before that as well as from the due time.
        before = due - PREPARE_AHEAD - timedelta(seconds=0.25)
        await asyncio.sleep(max(0.0, before.timestamp() - time.time()))
        cpu.append(cpu_seconds())
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
        cpu.append(cpu_seconds())
        done_at = await asyncio.to_thread(_wait_count, port, n, 600)
        cpu.append(cpu_seconds())
        daemon.stop()
        await task
        return done_at

    _run(go())
    # Event i is due at due + i*spread; its key starts with "e<i>/".
    due_of = {f"e{i}": (due + spread * i).timestamp() for i in range(n)}
    seen = _stats(port, full=True)["arrivals"]
    delays = sorted(t - due_of[key.split("/", 1)[0]] for key, t in seen)
    arrivals = sorted(t for _, t in seen)
    due_ts = due.timestamp()
    first, last = arrivals[0], arrivals[-1]
    return {"reminders": n, "seconds": last - due_ts, "per_second": n / max(last - due_ts, 1e-9),
            "send_span_per_second": n / max(last - first, 1e-9),
            "delay_median": statistics.median(delays),
            "delay_p99": delays[min(len(delays) - 1, int(0.99 * len(delays)))],
            "first_delay": delays[0], "cpu_ms": (cpu[2] - cpu[1]) * 1000 / n,
            "cpu_ms_with_prepare": (cpu[2] - cpu[0]) * 1000 / n,
            "peak_mb": _peak_mb()}


# ── 3. start-up with M future reminders ───────────────────────────────────────────────
def startup_main(port: int, m: int, where: str) -> dict:
    """Start the daemon on `where` until its wake-up is armed. The first run there starts
    cold (empty store: everything is synced and inserted); a second run is a restart."""
    from timeline.daemon import Daemon
    from timeline.store import Store

    tmp = Path(where)
    events = m // 4
    if not (tmp / "events.yaml").exists():
        # Deadlines with the default four lead times (90d, 30d, 7d, 1d), spread over the
        # year after the longest lead, so every reminder lies inside the plan's horizon.
        first_due = datetime.now(UTC) + timedelta(days=91)
        spread = timedelta(days=270) / max(events, 1)
        _events_yaml(tmp / "events.yaml", events, first_due, spread=spread,
                     leads="90d, 30d, 7d, 1d")
    settings = _settings(tmp, port, 8)
    daemon = Daemon(settings, serve=False)  # type: ignore[arg-type]
    armed = threading.Event()
    original = daemon.arm

    async def arm() -> None:
        await original()
        if hasattr(daemon, "scheduler"):
            armed.set()

    daemon.arm = arm  # type: ignore[method-assign]

    async def go() -> float:
        start = time.perf_counter()
        task = asyncio.ensure_future(daemon.run())
        while not armed.is_set():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        daemon.stop()
        await task
        return elapsed

    elapsed = _run(go())
    store = Store.open(settings.store)  # type: ignore[attr-defined]
    planned = store.counts().get("pending", 0)
    store.close()
    return {"planned": planned, "events": events, "seconds": elapsed, "peak_mb": _peak_mb()}


# ── orchestration ─────────────────────────────────────────────────────────────────────
def _cpus(pin: bool) -> tuple[str, str]:
    """(the receiver's CPU, the measured parts' CPU), as BENCH_CPU values ("" = anywhere)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or len(cpus) < 2:
        return "", ""
    return str(cpus[-1]), str(cpus[0])


def _run(coro: Any) -> Any:
    """On the loop `timeline run` uses (timeline.process.new_loop: uvloop's where installed),
    or asyncio's own with --loop asyncio; the bare loop and the daemon alike."""
    if os.environ.get("BENCH_LOOP") == "asyncio":
        return asyncio.run(coro)
    from timeline.process import new_loop
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)


def _pin_self() -> None:
    cpu = os.environ.get("BENCH_CPU", "")
    if cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})


def _child(part: str, *args: object, cpu: str = "") -> dict:
    out = subprocess.run([sys.executable, __file__, part, *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=1200,
                         env={**os.environ, "BENCH_CPU": cpu})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--due", type=int, default=10_000, help="reminders due at once")
    parser.add_argument("--planned", type=int, default=100_000, help="future reminders")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--normal", type=int, default=200,
                        help="reminders at normal load: one due every 100 ms")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating bare/daemon rounds for the throughput ratio")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the scheduler place the receiver and the parts")
    parser.add_argument("--loop", choices=["daemon", "asyncio"], default="daemon",
                        help="the bare loop's and the daemon's event loop: the one `timeline "
                             "run` uses (uvloop where installed), or asyncio's")
    args = parser.parse_args()
    os.environ["BENCH_LOOP"] = args.loop

    receiver_cpu, part_cpu = _cpus(args.pin)
    port_file = tempfile.mktemp(prefix="bench-port-")
    receiver = subprocess.Popen([sys.executable, __file__, "receiver", port_file],
                                env={**os.environ, "BENCH_CPU": receiver_cpu})
    rounds: list[tuple[dict, dict]] = []
    try:
        while not os.path.exists(port_file) or not Path(port_file).read_text():
            time.sleep(0.05)
        port = int(Path(port_file).read_text())
        time.sleep(0.5)
        for _ in range(args.rounds):
            bare = _child("bare", port, args.due, args.concurrency, cpu=part_cpu)
            _stats(port, reset=True)
            due = _child("due", port, args.due, args.concurrency, cpu=part_cpu)
            _stats(port, reset=True)
            rounds.append((bare, due))
        normal = _child("due", port, args.normal, args.concurrency, 100, cpu=part_cpu)
        _stats(port, reset=True)
        where = tempfile.mkdtemp(prefix="bench-start-")
        cold = _child("startup", port, args.planned, where, cpu=part_cpu)
        warm = _child("startup", port, args.planned, where, cpu=part_cpu)
    finally:
        receiver.terminate()
        receiver.wait(10)
    ratios = [due["per_second"] / bare["per_second"] for bare, due in rounds]
    median = statistics.median(ratios)
    # The round whose ratio is the median one (the lower middle for an even count) is shown.
    bare, due = rounds[sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2]]
    pinned = f"receiver on CPU {receiver_cpu}, parts on CPU {part_cpu}" if part_cpu \
        else "not pinned"
    loop = "asyncio's loop" if args.loop == "asyncio" else "the daemon's loop (new_loop)"
    print(f"receiver: uvicorn + Starlette on 127.0.0.1, concurrency {args.concurrency}; {pinned}; "
          f"bare and daemon on {loop}")
    for i, (b, d) in enumerate(rounds, 1):
        print(f"round {i}: bare {b['per_second']:.0f}/s ({b['cpu_ms']:.2f} ms CPU/request), "
              f"daemon {d['per_second']:.0f}/s ({d['cpu_ms']:.2f} ms CPU/delivery from due, "
              f"{d['cpu_ms_with_prepare']:.2f} with preparing ahead) = {ratios[i - 1]:.0%}")
    print(f"bare httpx loop : {bare['requests']} requests ({bare['body_bytes']:.0f}-byte bodies, "
          f"as the daemon sends) in {bare['seconds']:.2f} s = {bare['per_second']:.0f}/s, "
          f"CPU {bare['cpu_ms']:.2f} ms/request, peak {bare['peak_mb']:.0f} MB")
    print(f"daemon dispatch : {due['reminders']} reminders in {due['seconds']:.2f} s from due = "
          f"{due['per_second']:.0f}/s; median of {len(ratios)} rounds {median:.0%} of bare "
          f"(range {min(ratios):.0%}-{max(ratios):.0%}); delay due→receipt median "
          f"{due['delay_median']:.3f} s, p99 {due['delay_p99']:.3f} s, first "
          f"{due['first_delay']:.3f} s; CPU {due['cpu_ms']:.2f} ms/delivery from due, "
          f"{due['cpu_ms_with_prepare']:.2f} with preparing ahead; "
          f"peak {due['peak_mb']:.0f} MB")
    print(f"normal load     : {normal['reminders']} reminders, one due every 100 ms: delay "
          f"due→receipt median {normal['delay_median'] * 1000:.0f} ms, p99 "
          f"{normal['delay_p99'] * 1000:.0f} ms")
    for label, start in (("first start", cold), ("restart", warm)):
        print(f"daemon {label:<11}: {start['planned']} future reminders ({start['events']} "
              f"deadlines x 4 lead times) loaded, planned and armed in "
              f"{start['seconds']:.2f} s, peak {start['peak_mb']:.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("receiver", "bare", "due", "startup"):
        part, rest = sys.argv[1], sys.argv[2:]
        _pin_self()
        if part == "receiver":
            receiver_main(rest[0])
        else:
            fn = {"bare": bare_main, "due": due_main, "startup": startup_main}[part]
            print(json.dumps(fn(*(int(a) if a.isdigit() else a for a in rest))))
    else:
        main()
