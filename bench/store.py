"""Store throughput: planning a big outbox, then claiming and sending from it.

    python bench/store.py [--rows 100000] [--send 10000] [--pg URL | --no-pg]

Runs on a throwaway SQLite file and, when the server answers, on a throwaway schema of the
PostgreSQL `test` database (dropped afterwards). Times are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from timeline.store import PlannedDelivery, Store

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def planned(rows: int) -> list[PlannedDelivery]:
    # 200 events x 500 reminders, due over a year, with a payload like the daemon's.
    return [PlannedDelivery(
        key=f"event-{i % 200:03d}/2024-{1 + i % 12:02d}-15/{i % 7}d/park-{i:06d}",
        event_id=f"event-{i % 200:03d}", notifier="park",
        due_at=T0 + timedelta(minutes=i % 525_600),
        payload={"kind": "reminder", "occurrence": "2024-05-31", "lead": f"{i % 7}d"},
    ) for i in range(rows)]


def timed(label: str, action: Callable[[], object]) -> float:
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    print(f"  {label:<48} {elapsed:7.2f} s   ({result})")
    return elapsed


def claim_and_send(store: Store, count: int, owner: str, batch: int = 100) -> int:
    now = T0 + timedelta(days=400)
    sent = 0
    while sent < count:
        rows = store.claim_due(now, owner, limit=min(batch, count - sent))
        if not rows:
            break
        for row in rows:
            store.mark_sent(row.key, owner, now)
        sent += len(rows)
    return sent


def claim_and_send_threads(store: Store, count: int, threads: int) -> int:
    totals = [0] * threads

    def work(n: int) -> None:
        totals[n] = claim_and_send(store, count // threads, f"bench-thread-{n}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(totals)


def run(url: str, rows: int, send: int) -> None:
    items = planned(rows)
    with Store.open(url) as store:
        print(f"{store.backend}: {store.url}")
        timed(f"add_planned {rows:,} (new)", lambda: store.add_planned(items, now=T0))
        timed(f"add_planned {rows:,} again (nothing new)",
              lambda: store.add_planned(items, now=T0))
        timed(f"claim_due(100) + mark_sent x {send:,}",
              lambda: claim_and_send(store, send, "bench"))
        timed(f"same, 4 threads sharing the store, x {send:,}",
              lambda: claim_and_send_threads(store, send, 4))
        timed("counts()", store.counts)
        timed("next_due()", store.next_due)


@contextmanager
def pg_schema(server: str) -> Iterator[str | None]:
    try:
        conn = psycopg.connect(server, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"postgresql: skipped, {server} unreachable ({str(exc).strip()})")
        yield None
        return
    schema = f"store_bench_{uuid.uuid4().hex[:8]}"
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{server}?options=-csearch_path%3D{schema}"
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=10_000)
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL server (a scratch "
                        "schema is created in its database)")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.rows, args.send)
    if not args.no_pg:
        with pg_schema(args.pg) as url:
            if url:
                run(url, args.rows, args.send)


if __name__ == "__main__":
    main()
