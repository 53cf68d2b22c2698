"""The review period: `--since` (a duration back from the end, or a date/time), `--until` (a
date/time, `now`, or by default the last event of the data), and the report's date.

Counting back from the data's last event, not from the clock, keeps the report the same for the
same input; `--until now` asks for the clock explicitly."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class PeriodError(ValueError):
    pass


def parse_duration(text: str) -> dt.timedelta | None:
    """`7d`, `24h`, `30m`, `2w`, `90s`; None when `text` is not a duration."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC. Returned naive, in UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{text!r} is neither a duration (7d, 24h, 30m, 2w) nor an ISO 8601 date or date-time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def iso(moment: dt.datetime | None) -> str:
    """A naive UTC datetime as the dictionary writes timestamps (`2026-10-11T22:40:08Z`)."""
    if moment is None:
        return ""
    text = moment.isoformat(timespec="microseconds").rstrip("0").rstrip(".")
    return text + "Z"


@dataclass(frozen=True)
class PeriodRequest:
    """What the command line asked for, before the data is read."""

    since: str | None = None
    until: str | None = None

    def check(self) -> None:
        """Fail early on text that is neither a duration nor a date (before the inputs are read)."""
        if self.since is not None and parse_duration(self.since) is None:
            parse_instant(self.since)
        if self.until is not None and self.until.strip().lower() != "now":
            parse_instant(self.until)


@dataclass(frozen=True)
class Period:
    """The window events are counted in, both ends included; None: open."""

    since: dt.datetime | None
    until: dt.datetime | None
    description: str


def resolve(request: PeriodRequest, data_end: dt.datetime | None, now: dt.datetime | None = None) -> Period:
    """The period, given the last event's time in the data (`data_end`)."""
    request.check()
    until: dt.datetime | None = None
    if request.until is not None:
        if request.until.strip().lower() == "now":
            until = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
        else:
            until = parse_instant(request.until)
    since: dt.datetime | None = None
    reference = until if until is not None else data_end
    if request.since is not None:
        duration = parse_duration(request.since)
        if duration is None:
            since = parse_instant(request.since)
        elif reference is not None:
            since = reference - duration
        # else: no data and no --until, nothing to count back from: the period stays open
    if since is not None and until is not None and since > until:
        raise PeriodError(f"--since ({iso(since)}) is after --until ({iso(until)})")
    if since is None and until is None:
        description = "all the data read"
    else:
        start = iso(since) if since is not None else "the first event"
        end = iso(until) if until is not None else (f"{iso(data_end)}, the last event" if data_end is not None else "the last event")
        description = f"from {start} to {end}"
        if request.since is not None and parse_duration(request.since) is not None and since is not None:
            back_from = "--until" if request.until is not None else "the last event in the data"
            description += f" ({request.since.strip()} back from {back_from})"
    return Period(since, until, description)
