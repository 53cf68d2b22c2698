"""Where the project's content (parsers/, sigma_rules/, dashboards/) lives.

In a wheel, content is installed inside the package as `converter/_content/`; in a checkout (and an
editable install) it is read from the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def content_root() -> Path:
    """The directory holding parsers/ (and the other content folders)."""
    bundled = _PACKAGE / "_content"
    if (bundled / "parsers").is_dir():
        return bundled
    return _PACKAGE.parent


def parsers_dir() -> Path:
    return content_root() / "parsers"


def schemas_dir() -> Path:
    return _PACKAGE / "schemas"
