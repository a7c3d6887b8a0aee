"""The cold render spread over the machine's cores: measured by bench/feed.py, not used by
the feed (on this project's 2-core machine it took 1.1-2.9x the serial writer's time at
10,000 to 40,000 events; see the README's feed benchmark). Kept here so the measurement can
be repeated on a machine with more cores.

Rendering is pure Python, so threads would share one core; processes do not. The workers
come from a `forkserver` (started clean, never forked from a process with threads, whose
locks a fork would copy half-taken) with `timeline.feed` imported once, and get chunks of
events to write with the same `write_event` the serial path uses, so the bytes are the
same. What it pays on top: starting the workers, pickling the events (0.3 s per 10,000
here) and unpickling them (0.5 s), while the parent, which pickles, competes for the same
cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from timeline.formatting import Lang
from timeline.model import Story
from timeline.occurrences import AnyEvent
from timeline.recurrence import Rule
from timeline.store import Revision

__all__ = ["CHUNK", "cores", "render_parallel"]

# Events per task: large enough that pickling and the round trip are small beside the
# work, small enough that 100,000 events are never all in flight at once.
CHUNK = 2_000

# (event, its story, its rule, its revision) for each event of a chunk, then the zone,
# language and year they are rendered with.
Task = tuple[list[tuple[AnyEvent, Story, Rule | None, Revision]], str, Lang, int]


def cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _render_chunk(task: Task) -> list[bytes]:
    from timeline.feed import write_event

    items, tz_name, lang, year = task
    return [write_event(event, story, rule, revision, tz_name, lang, year)
            for event, story, rule, revision in items]


def _tasks(items: Sequence[tuple[AnyEvent, Revision]], stories: Mapping[str, Story],
           rules: Mapping[str, Rule], tz_name: str, lang: Lang, year: int
           ) -> Iterator[Task]:
    for start in range(0, len(items), CHUNK):
        yield ([(event, stories[event.story], rules.get(event.id), revision)
                for event, revision in items[start:start + CHUNK]], tz_name, lang, year)


def render_parallel(items: Sequence[tuple[AnyEvent, Revision]], stories: Mapping[str, Story],
                    rules: Mapping[str, Rule], tz_name: str, lang: Lang, year: int,
                    workers: int | None = None) -> list[bytes]:
    """Each item's VEVENT bytes, in order, written by worker processes."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["timeline.feed"])
    count = workers or cores()
    out: list[bytes] = []
    tasks = _tasks(items, stories, rules, tz_name, lang, year)
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        # Two chunks per worker in flight, taken in order: map() would pickle every chunk
        # at once (100,000 events' worth), this keeps a few.
        pending: deque[Future[list[bytes]]] = deque(
            pool.submit(_render_chunk, task) for task in islice(tasks, 2 * count))
        while pending:
            out.extend(pending.popleft().result())
            task = next(tasks, None)
            if task is not None:
                pending.append(pool.submit(_render_chunk, task))
    return out
