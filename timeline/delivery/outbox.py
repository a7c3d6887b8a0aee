"""What delivery needs of the store, as an interface: claims and their leases, outcomes, the
last look before a prepared send, and the summaries it plans itself. `timeline.store.Store`
implements it (SQLite and PostgreSQL); the dispatcher is typed against this, not the
store's class, so another outbox (or a test's) can stand in. The records it passes
(`Delivery`, `Outcome`, `PlannedDelivery`) and `StoreBusy` come from `timeline.store`, whose
import still loads SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from timeline.store import Delivery, Outcome, PlannedDelivery

__all__ = ["Outbox"]


class Outbox(Protocol):
    def claim_due(self, now: datetime, owner: str, limit: int = 100, lease: float = 60.0, *,
                  horizon: datetime | None = None) -> list[Delivery]:
        """Claim (lease to `owner`) what is due by `horizon`, and lapsed claims."""
        ...

    def extend_lease(self, keys: Iterable[str], owner: str, now: datetime,
                     lease: float = 60.0) -> int:
        """Renew `owner`'s claims on `keys`; how many it still held."""
        ...

    def still_claimed(self, keys: Sequence[str], owner: str) -> set[str]:
        """Those of `keys` that `owner` still holds (a re-plan may have taken them)."""
        ...

    def release_many(self, keys: Iterable[str], owner: str, *,
                     now: datetime | None = None) -> int:
        """Give claims back unsent; how many `owner` held."""
        ...

    def release(self, key: str, owner: str, *, now: datetime | None = None) -> bool:
        """Give one claim back unsent."""
        ...

    def record_outcomes(self, outcomes: Iterable[Outcome], owner: str, now: datetime, *,
                        wait: bool = True) -> int:
        """Store outcomes of `owner`'s claims in one transaction; `wait=False`: raise
        `timeline.store.StoreBusy` at once instead of waiting for another writer's lock."""
        ...

    def mark_missed(self, keys: Iterable[str], now: datetime, *, owner: str | None = None
                    ) -> int:
        """Record deliveries that fell due too long ago to be of use."""
        ...

    def add_planned(self, items: Iterable[PlannedDelivery], *,
                    now: datetime | None = None) -> int:
        """Plan deliveries (the missed summaries delivery makes itself)."""
        ...

    def deliveries(self, state: str | None = None, limit: int = 1000) -> list[Delivery]:
        """Deliveries of a state (the claims to take over after a crash)."""
        ...
