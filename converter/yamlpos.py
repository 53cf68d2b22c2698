"""Load YAML keeping the line of every value, so content errors can name file and line.

Duplicate mapping keys are an error (plain PyYAML keeps the last one silently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ContentError

JsonPath = tuple[str | int, ...]


class LineMap:
    """Maps a path into the loaded document (keys and list indexes) to its 1-based line."""

    def __init__(self) -> None:
        self._lines: dict[JsonPath, int] = {}

    def record(self, path: JsonPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line_of(self, path: JsonPath | list[str | int]) -> int | None:
        """The line of `path`, or of its nearest recorded parent."""
        parts = tuple(path)
        while True:
            if parts in self._lines:
                return self._lines[parts]
            if not parts:
                return None
            parts = parts[:-1]


# libyaml's parser when PyYAML was built with it (the same nodes and marks, several times faster)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: JsonPath, lines: LineMap, source: str) -> Any:
    lines.record(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ContentError(source, key_node.start_mark.line + 1, f"mapping key {key!r} is not a scalar")
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                raise ContentError(source, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            lines.record((*path, key), key_node.start_mark.line + 1)
            result[key] = _convert(loader, value_node, (*path, key), lines, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), lines, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml_text(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse one YAML document from `text`; `source` names it in errors."""
    lines = LineMap()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        return _convert(loader, node, (), lines, source), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ContentError(source, line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ContentError(source, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Read and parse a YAML file, with positions."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(path, None, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise ContentError(path, None, f"cannot read: {exc.strerror}") from None
    return load_yaml_text(text, str(path))
