"""The `timeline` command line: check, list and publish the timeline (and, later, run it).

The only module besides the console notifier that prints. Every expected failure is a
TimelineError, shown as one line per problem with exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import click

from timeline import __version__
from timeline.config import Settings, load_settings
from timeline.errors import TimelineError, ValidationFailed
from timeline.feed import render_feed
from timeline.formatting import Lang, format_when
from timeline.loader import LoadedTimeline, load_timeline
from timeline.model import FIRST_YEAR, LAST_YEAR, SLUG
from timeline.occurrences import Occurrence, iter_occurrences
from timeline.recurrence import add_years, yearly_count
from timeline.store import STATES

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_EVENTS = "events.yaml"


def _today(tz: ZoneInfo) -> date:
    """Today where the timeline's dates are read, not where this machine happens to be."""
    return datetime.now(tz).date()


def friendly_errors(func: F) -> F:
    """Turn our own errors into `FILE:LINE: subject: message` lines and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(exc.problems)} problem(s); nothing was changed.", err=True)
            sys.exit(1)
        except TimelineError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return cast(F, wrapper)


def _split(values: tuple[str, ...]) -> list[str]:
    """`--tag a,b --tag c` and `--tag a --tag b,c` both mean a, b, c."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _check_filters(loaded: LoadedTimeline, tags: list[str], stories: list[str]) -> None:
    known_tags = set(loaded.timeline.tags)
    known_stories = {s.id for s in loaded.timeline.stories}
    for tag in tags:
        if tag not in known_tags:
            raise click.BadParameter(f"unknown tag {tag!r}; known: {', '.join(sorted(known_tags))}",
                                     param_hint="--tag")
    for story in stories:
        if story not in known_stories:
            raise click.BadParameter(
                f"unknown story {story!r}; known: {', '.join(sorted(known_stories))}",
                param_hint="--story")


events_argument = click.argument("events_file", metavar="[FILE|FOLDER]", default=DEFAULT_EVENTS,
                                 type=click.Path(path_type=Path))
MAX_LISTED = 1_000_000  # the most occurrences `timeline list` spells out at once
tag_option = click.option("--tag", "tags", multiple=True,
                          help="Only items with this tag (repeat or comma-separate).")
story_option = click.option("--story", "stories", multiple=True,
                            help="Only items of this story (repeat or comma-separate).")
events_option = click.option("--events", "events_file", default=DEFAULT_EVENTS, show_default=True,
                             type=click.Path(path_type=Path),
                             help="The events file, or a folder of *.yaml parts, to read.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="timeline")
def cli() -> None:
    """policy-timeline: dates from public policy news as reminders and a calendar feed."""


@cli.command()
@events_argument
@friendly_errors
def check(events_file: Path) -> None:
    """Validate an events file or folder (default: events.yaml); exit 1 listing every
    problem."""
    loaded = load_timeline(events_file)
    timeline = loaded.timeline
    today = _today(timeline.tz)
    nxt = _next_occurrence(loaded, today)
    after = (f"next: {format_when(nxt.start or nxt.end, nxt.event.precision)} "
             f"{nxt.event.id}" if nxt else "nothing upcoming")
    click.echo(f"{events_file}: ok, {len(timeline.stories)} stories, "
               f"{len(timeline.events)} events; {after}")


def _next_occurrence(loaded: LoadedTimeline, today: date) -> Occurrence | None:
    """The first occurrence on or after today, looked for a year at a time: spelling out
    fifty years at once cost a thousand weekly items 2.6 million occurrences."""
    for year in range(today.year, today.year + 51):
        first = today if year == today.year else date(year, 1, 1)
        found = iter_occurrences(loaded, first, date(year, 12, 31))
        nxt = next((o for o in found if o.key_date >= today), None)
        if nxt is not None:
            return nxt
    return None


@cli.command("list")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]),
              help="First day (default: today in the timeline's timezone).")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]),
              help="Last day (default: one year after --from).")
@tag_option
@story_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@events_option
@friendly_errors
def list_(first: datetime | None, last: datetime | None, tags: tuple[str, ...],
          stories: tuple[str, ...], as_json: bool, lang: Lang, events_file: Path) -> None:
    """List occurrences in a date range, in date order (recurring items expanded)."""
    loaded = load_timeline(events_file)
    tag_list, story_list = _split(tags), _split(stories)
    _check_filters(loaded, tag_list, story_list)
    start = first.date() if first else _today(loaded.timeline.tz)
    end = last.date() if last else add_years(start, 1)
    if end < start:
        raise click.BadParameter(f"--to {end} is before --from {start}", param_hint="--to")
    # a file may hold 100,000 occurrences a year: three centuries of them fill memory
    years = (end - start).days / 365.25 + 1
    yearly = sum(yearly_count(rule, MAX_LISTED) for rule in loaded.rules.values())
    if yearly * years > MAX_LISTED:
        raise click.BadParameter(
            f"{start}..{end} would list about {int(yearly * years):,} occurrences of the "
            f"recurring items, at most {MAX_LISTED:,} at a time: narrow --from/--to",
            param_hint="--to")
    found = iter_occurrences(loaded, start, end, tags=tag_list, stories=story_list)
    if as_json:
        click.echo(json.dumps([o.to_json() for o in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(f"nothing between {start} and {end}")
        return
    for occurrence in found:
        event = occurrence.event
        when = format_when(occurrence.start, event.precision, lang)
        if occurrence.start is None:
            when = "… " + format_when(occurrence.end, event.precision, lang)
        elif occurrence.end is not None and occurrence.end != occurrence.start \
                and occurrence.all_day:
            when += " – " + format_when(occurrence.end, event.precision, lang)
        title = event.in_lang("title", lang)
        flag = " [估算]" if occurrence.estimated and lang == "zh" else \
            " [estimated]" if occurrence.estimated else ""
        click.echo(f"{when:<24} {event.kind:<9} {event.story:<22} {title}{flag}")


@cli.command()
@tag_option
@story_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@events_option
@friendly_errors
def ics(tags: tuple[str, ...], stories: tuple[str, ...], output: Path | None, lang: Lang,
        events_file: Path) -> None:
    """Write the iCalendar feed (RFC 5545), optionally filtered by tag or story."""
    loaded = load_timeline(events_file)
    tag_list, story_list = _split(tags), _split(stories)
    _check_filters(loaded, tag_list, story_list)
    feed = render_feed(loaded, tags=tag_list, stories=story_list, lang=lang)
    if output is None:
        sys.stdout.buffer.write(feed)
        sys.stdout.buffer.flush()
        return
    if not output.parent.is_dir():
        raise TimelineError(f"{output.parent}: no such folder")
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_bytes(feed)
        tmp.replace(output)  # atomic: a subscriber never reads half a feed
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TimelineError(f"{output}: cannot write ({exc.strerror})") from None
    click.echo(f"wrote {output} ({len(feed)} bytes)", err=True)


config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False,
                              path_type=Path), help="Deployment settings (YAML). Default: "
                              "events.yaml, SQLite timeline.db, console notifier.")


events_override = click.option("--events", "events_path", type=click.Path(path_type=Path),
                               help="The events file or folder (instead of the config's "
                                    "`events`).")


def _settings(config_path: Path | None, *, senders: bool = True,
              events: Path | None = None) -> Settings:
    settings = load_settings(config_path, senders=senders)
    return settings.model_copy(update={"events": events}) if events else settings


def setup_logging(verbose: bool) -> None:
    """How `timeline run` and `serve` log: INFO (DEBUG with -v) to stderr, for journald."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines would show tokens
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@cli.command()
@config_option
@events_override
@click.option("--watch", is_flag=True,
              help="Reload the events when the file (or a part of the folder) changes.")
@click.option("--no-server", is_flag=True, help="Do not serve the feed and page.")
@click.option("-v", "--verbose", is_flag=True)
@friendly_errors
def run(config_path: Path | None, events_path: Path | None, watch: bool, no_server: bool,
        verbose: bool) -> None:
    """Run the reminder daemon (and the feed server) until SIGTERM/SIGINT."""
    from timeline.daemon import run_daemon

    setup_logging(verbose)
    settings = _settings(config_path, events=events_path)
    if no_server:  # as if the config said so: messages then link no feed that is not served
        settings = settings.model_copy(update={
            "server": settings.server.model_copy(update={"enabled": False})})
    sys.exit(run_daemon(settings, watch=watch))


@cli.command()
@config_option
@events_override
@click.option("--host", help="Address to listen on (default from config: 127.0.0.1).")
@click.option("--port", type=int, help="Port (default from config: 8080).")
@click.option("-v", "--verbose", is_flag=True)
@friendly_errors
def serve(config_path: Path | None, events_path: Path | None, host: str | None,
          port: int | None, verbose: bool) -> None:
    """Serve the calendar feed, the timeline page and the JSON API (no reminders)."""
    from timeline.web.server import run_server

    setup_logging(verbose)
    settings = _settings(config_path, senders=False, events=events_path)  # sends nothing
    server = settings.server.model_copy(update={"host": host}) if host else settings.server
    run_server(settings.events, server.host, port or server.port, settings.lang,
               base_url=server.base_url, allowed_hosts=server.hosts())


@cli.command()
@config_option
@events_override
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]),
              help="Default: 30 days after --from.")
@click.option("--notifier", "only", multiple=True, help="Only this notifier (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of rendered text.")
@friendly_errors
def preview(config_path: Path | None, events_path: Path | None, first: datetime | None,
            last: datetime | None, only: tuple[str, ...], as_json: bool) -> None:
    """Show which reminders would be sent when, rendered, without sending anything."""
    from timeline.preview import preview_messages

    settings = _settings(config_path, senders=False, events=events_path)  # sends nothing
    for name in only:
        if name not in settings.notifiers:
            raise click.BadParameter(f"unknown notifier {name!r}; configured: "
                                     f"{', '.join(settings.notifiers)}", param_hint="--notifier")
    loaded = load_timeline(settings.events)
    start = first.date() if first else _today(loaded.timeline.tz)
    end = last.date() if last else start + timedelta(days=30)
    if end < start:
        raise click.BadParameter(f"--to {end} is before --from {start}", param_hint="--to")
    if (end - start).days > 366:  # every message of the span is rendered: keep it a year
        raise click.BadParameter("preview at most a year at a time", param_hint="--to")
    items = preview_messages(loaded, settings, start, end, only)
    if as_json:
        click.echo(json.dumps([i.to_json() for i in items], ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo(f"no reminders due between {start} and {end}")
    for item in items:
        click.echo(f"── {item.due_local:%Y-%m-%d %H:%M %Z} → {item.notifier} "
                   f"({len(item.message.items) or 1} item(s)) {item.message.key}")
        click.echo(item.message.text)
        click.echo()


def _open_store(settings: Settings) -> Any:
    from timeline.store import Store

    return Store.open(settings.store)


@cli.command()
@config_option
@click.option("--state", type=click.Choice(STATES), help="Only this state.")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def deliveries(config_path: Path | None, state: str | None, limit: int, as_json: bool) -> None:
    """The delivery outbox: what was sent, is pending, retrying or dead."""
    settings = _settings(config_path, senders=False)  # sends nothing
    store = _open_store(settings)
    try:
        rows = store.deliveries(state=state, limit=limit)
        counts = store.counts()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([_row_json(r) for r in rows], ensure_ascii=False, indent=2))
        return
    click.echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "the outbox is empty")
    for row in rows:
        error = f"  {row.last_error}" if row.last_error else ""
        click.echo(f"{row.state:<9} {row.due_at:%Y-%m-%d %H:%M}Z  {row.attempts:>2}x  "
                   f"{row.key}{error}")


def _row_json(row: Any) -> dict[str, Any]:
    out = {}
    for name in ("key", "kind", "event_id", "notifier", "state", "attempts", "last_error",
                 "late"):
        out[name] = getattr(row, name, None)
    for name in ("due_at", "next_attempt_at", "sent_at"):
        value = getattr(row, name, None)
        out[name] = value.isoformat() if value else None
    return out


@cli.command()
@config_option
@click.argument("key")
@friendly_errors
def retry(config_path: Path | None, key: str) -> None:
    """Send a dead, missed or cancelled delivery again (the daemon picks it up)."""
    settings = _settings(config_path, senders=False)  # sends nothing
    store = _open_store(settings)
    try:
        ok = store.retry(key, datetime.now(UTC))
    finally:
        store.close()
    if not ok:
        click.echo(f"no delivery {key!r} that can be retried", err=True)
        sys.exit(1)
    click.echo(f"{key}: queued again; a running daemon sends it at its next wake-up "
               "(or send SIGHUP to wake it now)")


@cli.command("notify-test")
@config_option
@click.argument("notifier")
@friendly_errors
def notify_test(config_path: Path | None, notifier: str) -> None:
    """Send a test message through one configured notifier, now."""
    from timeline.preview import send_test

    settings = _settings(config_path)
    if notifier not in settings.notifiers:
        raise click.BadParameter(f"unknown notifier {notifier!r}; configured: "
                                 f"{', '.join(settings.notifiers)}", param_hint="NOTIFIER")
    result = send_test(settings, notifier)
    click.echo(f"{notifier}: {result.status}{': ' + result.detail if result.detail else ''}")
    sys.exit(0 if result.delivered else 1)


@cli.command("notifiers")
@config_option
@friendly_errors
def notifiers_(config_path: Path | None) -> None:
    """List the installed notifier types and the configured notifiers."""
    from notifiers.registry import available

    click.echo("installed types:")
    for name, target in available().items():
        click.echo(f"  {name:<10} {target}")
    settings = _settings(config_path, senders=False)  # sends nothing
    click.echo(f"configured in {settings.source}:")
    for name, entry in settings.notifiers.items():
        extra = f", digest {entry.digest.frequency}" if entry.digest else ""
        click.echo(f"  {name:<10} type {entry.type}{extra}")


def _published(value: str | None) -> Any:
    """--published 2024-04-10 (a day), 2024-04 (a month), ~2024-04-10 (about then)."""
    if value is None:
        return None
    from timeline.extract import Published
    from timeline.model import Precision

    text = value.strip()
    approximate = text.startswith("~")
    text = text.lstrip("~")
    try:
        if len(text) == 7:
            day, precision = date.fromisoformat(f"{text}-01"), Precision.MONTH
        else:
            day, precision = date.fromisoformat(text), Precision.DAY
    except ValueError:
        raise click.BadParameter(f"{value[:40]!r}: write 2024-04-10, 2024-04 or ~2024-04-10",
                                 param_hint="--published") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise click.BadParameter(f"years {FIRST_YEAR} to {LAST_YEAR} are supported",
                                 param_hint="--published")
    return Published(day, Precision.APPROXIMATE if approximate else precision, "--published")


@cli.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE|- [FILE...]")
@click.option("--published", "published_text", metavar="DATE",
              help="The notice's date: 2024-04-10, 2024-04 (month) or ~2024-04-10 (about). "
                   "Default: read from the notice (its signature line or header).")
@click.option("--story", help="Story id for the candidates: a new story, or one the events "
                              "file has (events are then added to it). A page of several "
                              "stories gives ID-1, ID-2, ...")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this new file instead of standard output (e.g. a new part of "
                   "an events folder: events.d/NAME.yaml).")
@click.option("--merge", "merge_into", type=click.Path(path_type=Path), metavar="EVENTS",
              help="Add the accepted candidates to this events file or folder.")
@click.option("--only", help="Accept just these candidate ids (comma-separated).")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              callback=lambda _ctx, _param, value: _a_number(value),
              help="Accept the candidates at or above this confidence.")
@friendly_errors
def extract(files: tuple[str, ...], published_text: str | None, story: str | None, fmt: str,
            out: Path | None, merge_into: Path | None, only: str | None,
            min_confidence: float) -> None:
    """Propose the dated items of notices (text in any encoding, HTML, PDF, DOCX) as
    events, with their evidence; merge the ones accepted into an events file."""
    from timeline.extract.command import run_extract

    if story is not None and not SLUG.fullmatch(story):
        raise click.BadParameter(f"{story[:40]!r} is not a slug (a-z, 0-9, '-'; at most 100)",
                                 param_hint="--story")
    if out is not None and merge_into is not None:
        raise click.UsageError("--out writes a new file and --merge adds to one: give one")
    result = run_extract(
        [(name, sys.stdin.buffer.read() if name == "-" else _read_bytes(name)) for name in files],
        published=_published(published_text), story=story, fmt=fmt, out=out,
        merge_into=merge_into, only=_split((only,)) if only is not None else None,
        min_confidence=min_confidence)
    for line in result.messages:
        click.echo(line, err=True)
    if result.text is not None:
        click.echo(result.text, nl=False)
    sys.exit(result.exit_code)


def _a_number(value: float) -> float:
    if value != value:  # NaN passes FloatRange's comparisons
        raise click.BadParameter("a number from 0 to 1", param_hint="--min-confidence")
    return value


def _read_bytes(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        raise TimelineError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise TimelineError(f"{name}: a folder, not a notice") from None
    except OSError as exc:
        raise TimelineError(f"{name}: cannot read ({exc.strerror})") from None


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
