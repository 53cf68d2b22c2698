"""Normalize source timestamps to the dictionary's form: ISO 8601 UTC with `Z`.

Sub-second digits are kept as the source wrote them (nanoseconds included), without trailing zeros.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ISO = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_INT = re.compile(r"^-?[0-9]+$")


class TimestampError(ValueError):
    pass


def _format(moment: dt.datetime, fraction: str) -> str:
    fraction = fraction.rstrip("0")
    base = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def resolve_zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimestampError(f"unknown time zone {name!r}") from None


def from_iso8601(text: str, zone: str | None, assumed: dt.tzinfo) -> tuple[str, bool, str | None]:
    """Parse `text` (its zone may be given apart, as `zone`).

    Returns the UTC string, whether the zone was assumed, and a note when an assumed-zone local
    time does not exist or is ambiguous there (a daylight-saving change).
    """
    m = _ISO.match(text + (zone or ""))
    if not m:
        raise TimestampError("not an ISO 8601 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = m.group(7) or ""
    offset = m.group(8)
    try:
        naive = dt.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise TimestampError(f"invalid timestamp: {exc}") from None
    note = None
    if offset is None:
        local = naive.replace(tzinfo=assumed)
        assumed_used = True
        later = naive.replace(tzinfo=assumed, fold=1)
        if local.utcoffset() != later.utcoffset():
            back = local.astimezone(dt.UTC).astimezone(assumed).replace(tzinfo=None)
            note = "does not exist" if back != naive else "is ambiguous"
    elif offset in ("Z", "z"):
        local = naive.replace(tzinfo=dt.UTC)
        assumed_used = False
    else:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise TimestampError("invalid UTC offset")
        local = naive.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))
        assumed_used = False
    try:
        utc = local.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise TimestampError("timestamp out of range") from None
    return _format(utc, fraction), assumed_used, note


def from_epoch(value: object, unit: str) -> str:
    """`unit` is "ns" or "s"; `value` an integer or a string of digits (OTLP writes nanoseconds as strings)."""
    if isinstance(value, bool):
        raise TimestampError("not an epoch time")
    if isinstance(value, str) and _INT.match(value):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and unit == "s" and value == value and abs(value) < 1e11:
        number = round(value * 1_000_000_000)
        unit = "ns"
    else:
        raise TimestampError("not an epoch time")
    if unit == "ns":
        seconds, nanos = divmod(number, 1_000_000_000)
        fraction = f"{nanos:09d}"
    else:
        seconds, fraction = number, ""
    try:
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise TimestampError("epoch time out of range") from None
    if not 1 <= moment.year <= 9999:
        raise TimestampError("epoch time out of range")
    return _format(moment, fraction)
