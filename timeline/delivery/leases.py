"""Claims and their leases: what this process holds, the heartbeat that renews it, when a
claim may have run out unseen, giving claims back, and taking over the claims of a run that
is gone.

A claim moves a row to `sending` under this process's owner name (host:pid:random) until
`lease_until`. While a batch is claimed and not recorded, the heartbeat renews its claims
three times a lease, so a short lease is enough: the deliveries of an instance killed
mid-send are taken over within seconds by another instance. A restart on the same host takes
back at once what the crashed run held, not when its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from timeline.delivery.batching import Batch
from timeline.delivery.outbox import Outbox
from timeline.store import Delivery

__all__ = ["LEASE", "Leases", "orphaned", "release_claims", "take_over_orphans"]

log = logging.getLogger("timeline.delivery")
# How long a claim lasts unless renewed (run_due renews its claims while it sends): how
# soon another instance takes over the deliveries of one that died mid-send.
LEASE = timedelta(seconds=30)


class Leases:
    """The claims this process holds, by batch number, until their outcome is stored."""

    def __init__(self, store: Outbox, owner: str, lease: timedelta = LEASE) -> None:
        self.store = store
        self.owner = owner
        self.seconds = lease.total_seconds()
        self.in_flight: dict[int, list[Delivery]] = {}
        # When the last renewal of every claim held began (monotonic): see lapsed().
        self.renewed = 0.0

    def hold(self, batch: Batch) -> None:
        self.in_flight[batch.number] = batch.rows

    def drop(self, batch: Batch) -> None:
        self.in_flight.pop(batch.number, None)

    def unfinished(self) -> list[Delivery]:
        """Every row held, and forget them (a shutdown gives them back)."""
        rows = [row for rows in list(self.in_flight.values()) for row in rows]
        self.in_flight.clear()
        return rows

    def lapsed(self, batch: Batch) -> bool:
        """Whether the batch's claim may be running out without this process knowing it
        was renewed (the store unreachable): another instance may take it over, so it must
        not be sent from here any more. A third of a lease is left for a send under way."""
        return time.monotonic() > max(batch.claimed, self.renewed) + self.seconds * 2 / 3

    async def release(self, rows: Sequence[Delivery]) -> None:
        """Give claims back unsent: pending again, the attempt not counted."""
        await asyncio.to_thread(self.store.release_many, [row.key for row in rows], self.owner)

    async def heartbeat(self) -> None:
        """Renew the claims of everything claimed and not yet finished, three times a lease
        (runs until cancelled).

        A batch may take longer than one lease (a slow receiver, sends queued behind the
        concurrency limit); a claim that ran out would be taken over and sent a second time
        by another instance while this one still sends it."""
        failing = False  # said once while it lasts (a full disk fails every beat)
        while True:
            await asyncio.sleep(self.seconds / 3)
            keys = [row.key for rows in self.in_flight.values() for row in rows]
            if not keys:
                continue
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.store.extend_lease, keys, self.owner,
                                        datetime.now(UTC), self.seconds)
            except Exception as exc:  # the store may blip; the next beat tries again
                if not failing:
                    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
                    log.warning("could not renew %d claim(s): %s: %s", len(keys),
                                type(exc).__name__, reason)
                    log.debug("the error in full", exc_info=True)
                failing = True
            else:
                if failing:
                    log.info("claims renewed again")
                failing = False
                self.renewed = started


def orphaned(owner: str, me: str) -> bool:
    """Whether the claim owner `owner` (host:pid:random) was a process on this host that
    no longer runs. Another host's claims are left to their lease."""
    try:
        host, pid_text, _ = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if owner == me or host != socket.gethostname():
        return False
    if pid == os.getpid():
        return True  # an earlier run under our pid (a container's pid 1): not us
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: a live process of another user
        return False
    return False  # alive (or the pid was reused): wait for the lease


async def release_claims(store: Outbox, which: Callable[[str], bool]) -> int:
    """Release (make pending again) every claim whose owner `which` accepts."""
    rows = await asyncio.to_thread(store.deliveries, "sending", 100_000)
    released = 0
    for row in rows:
        if row.lease_owner and which(row.lease_owner):
            released += await asyncio.to_thread(store.release, row.key, row.lease_owner)
    return released


async def take_over_orphans(store: Outbox, me: str) -> int:
    """Take back at once what a crashed run on this host left claimed (`sending`).

    Their lease would free the rows only when it runs out, and the restart after a crash
    (systemd's Restart=) is exactly when they should go out. Those really in flight at the
    crash are sent again under the same key, which receivers can drop."""
    released = await release_claims(store, lambda owner: orphaned(owner, me))
    if released:
        log.warning("took back %d delivery(ies) claimed by a run that is gone; any it was "
                    "sending goes out again under the same key", released)
    return released
