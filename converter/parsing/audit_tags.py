"""The one or two tags after an audit line's performer: which is the destination, which the role,
and whether they are consistent with the file name and the message.

Kamal writes `[destination]` only when there is one and `[role]` only with some messages, never
their names, so bare tags are ambiguous. A message's `role_tag` (always, never, optional) and the
file name `<service>[-<destination>]-audit.log` decide:

- MRSK lines (a zone-less timestamp, MRSK 0.5-0.12.0) never had a destination tag: one tag is the
  role, and the destination is the end of the file name when it is one of `known_destinations`
  (MRSK 0.10-0.12.0 kept it only in the file name);
- two tags are the destination, then the role;
- one tag is the destination for a message that never has a role, the role for one that always
  has; for an optional one it is the destination when the file name ends in `-<tag>`, else the role
  when the file name is known, else the destination.

The service is the file name's stem without the `-<destination>` suffix (the file's destination when
its name ends in a known one, else the line's).

Consistent tags are the ones Kamal could have written: no role on a `never` message, a role on an
`always` one, a destination that the file name ends with, no destination on an MRSK line; and when
the file name ends in one of `known_destinations`, that destination as the first tag. A forged
performer holding `] [` shows up as inconsistent tags at the nearest split.

Known limit: in a file without a destination whose service name ends in `-<role>` (`foo-web`), one
tag on an `optional` message (`app exec --reuse`) is read as the destination.
"""

from __future__ import annotations

from typing import Any


def file_destination(stem: str | None, known_destinations: tuple[str, ...]) -> str | None:
    """The destination the file name ends with, when it is one of the known destination names."""
    if stem is None:
        return None
    found = [d for d in known_destinations if stem.endswith("-" + d) and len(stem) > len(d) + 1]
    return max(found, key=len) if found else None


def consistent(tag1: str | None, tag2: str | None, role_tag: str, stem: str | None, zone_less: bool,
               file_dest: str | None = None) -> bool:
    count = (tag1 is not None) + (tag2 is not None)
    if zone_less:
        return (count == 0 and role_tag != "always") or (count == 1 and role_tag != "never")
    if file_dest is not None:  # Kamal writes the file's destination as the first tag of every line
        if count == 0 or (tag1 if tag1 is not None else tag2) != file_dest:
            return False
        return role_tag != "never" if count == 2 else role_tag != "always"
    if count == 2:
        return role_tag != "never" and (stem is None or stem.endswith("-" + (tag1 or "")))
    if count == 1:
        tag = tag1 if tag1 is not None else tag2
        if role_tag == "never":
            return stem is None or stem.endswith("-" + (tag or ""))
        return True
    return role_tag != "always"


def resolve(event: dict[str, Any], role_tag: str, known_destinations: tuple[str, ...], zone_less: bool) -> None:
    tag1 = event.pop("_tag1", None)
    tag2 = event.pop("_tag2", None)
    if tag1 is None and tag2 is not None:
        tag1, tag2 = tag2, None
    stem = event.get("_file_stem")
    file_dest = file_destination(stem, known_destinations)
    destination = role = None
    if zone_less:
        role = tag1
    elif (file_dest is not None and tag1 == file_dest) or tag2 is not None:
        destination, role = tag1, tag2
    elif tag1 is not None:
        if role_tag == "never":
            destination = tag1
        elif role_tag == "always":
            role = tag1
        elif stem is not None and stem.endswith("-" + tag1):
            destination = tag1
        elif stem is not None:
            role = tag1
        else:
            destination = tag1
    if destination is None and zone_less and stem is not None:
        for candidate in known_destinations:
            if stem.endswith("-" + candidate):
                destination = candidate
                break
    if destination:
        event["destination"] = destination
    if role:
        event["role"] = role
    if stem is not None:
        suffix = f"-{file_dest or destination}" if (file_dest or destination) else None
        event["service"] = stem[: -len(suffix)] if suffix and stem.endswith(suffix) and len(stem) > len(suffix) else stem
