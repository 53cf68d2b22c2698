"""Which of an audit line's one or two tags is the destination and which the role.

Kamal writes `[destination]` only when there is one and `[role]` only with some messages, never
their names, so the bare tags are ambiguous. Decided in this order:

1. two tags: destination, then role;
2. one tag: the destination when the file name ends in `-<tag>` (Kamal names the file
   `<service>[-<destination>]-audit.log`); else by the message: a message that never has a role
   tag makes it the destination, one that always has it makes it the role; else (optional), the
   role when the file name is known, the destination when it is not;
3. lines with a zone-less timestamp (MRSK 0.5-0.12.0) never had a destination tag, so their one tag
   is the role, and the destination is the end of the file name when it is one of the definition's
   `known_destinations` (MRSK 0.10-0.12.0 kept the destination only in the file name).

The service is the file name's stem without the `-<destination>` suffix.
"""

from __future__ import annotations

from typing import Any


def resolve(event: dict[str, Any], role_tag: str, known_destinations: tuple[str, ...], zone_less: bool) -> None:
    tag1 = event.pop("_tag1", None)
    tag2 = event.pop("_tag2", None)
    stem = event.get("_file_stem")
    destination = role = None
    if tag1 is not None and tag2 is not None:
        destination, role = tag1, tag2
    elif tag1 is not None and zone_less:
        role = tag1
    elif tag1 is not None:
        if (stem is not None and stem.endswith("-" + tag1)) or role_tag == "never":
            destination = tag1
        elif role_tag == "always" or stem is not None:
            role = tag1
        else:
            destination = tag1
    if destination is None and zone_less and stem is not None:
        for candidate in known_destinations:
            if stem.endswith("-" + candidate):
                destination = candidate
                break
    if destination is not None:
        event["destination"] = destination
    if role is not None:
        event["role"] = role
    if stem is not None:
        suffix = f"-{destination}" if destination else None
        event["service"] = stem[: -len(suffix)] if suffix and stem.endswith(suffix) and len(stem) > len(suffix) else stem
