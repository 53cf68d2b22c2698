"""Runs the generated ingest pipelines over documents, the way we read Elasticsearch's ingest
processors (modules/ingest-common of Elasticsearch): grok in real Oniguruma (onigurumacffi, the
engine family of Elasticsearch's Joni, with Elasticsearch's combination of several patterns into one
alternation), `if` conditions and scripts with tests/painless_subset.py, mustache for the `{{{...}}}`
snippets, gsub with Python `re` (each gsub call is recorded so that a test replays it in real
java.util.regex, which Elasticsearch's gsub runs).

Only the processors and options the kamal-siem pipelines use are implemented; any other fails the
test. This is not Elasticsearch: the tests that use it say what it proves and what it does not."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import onigurumacffi

from .painless_subset import PainlessError, evaluate, execute

MISSING = object()
_GROK_REF = re.compile(r"%\{(?P<name>[A-z0-9]+)(?::(?P<sub>[A-Za-z0-9@\[\]_:.-]+))?\}")
_MUSTACHE = re.compile(r"\{\{\{([^{}]+)\}\}\}")


class ProcessorFailure(Exception):
    def __init__(self, kind: str, tag: str | None, message: str) -> None:
        super().__init__(message)
        self.kind, self.tag, self.message = kind, tag, message


class Rerouted(Exception):
    def __init__(self, dataset: str) -> None:
        super().__init__(dataset)
        self.dataset = dataset


# -- paths ------------------------------------------------------------------------------------------------
class Document:
    def __init__(self, source: dict[str, Any]) -> None:
        self.source = source
        self.ingest: dict[str, Any] = {"timestamp": "2026-12-01T00:00:00.000000000Z"}

    def _root(self, path: str) -> tuple[Any, list[str]]:
        parts = path.split(".")
        if parts[0] == "_ingest":
            return self.ingest, parts[1:]
        return self.source, parts

    def get(self, path: str) -> Any:
        node, parts = self._root(path)
        for part in parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return MISSING
        return node

    def set(self, path: str, value: Any) -> None:
        node, parts = self._root(path)
        for part in parts[:-1]:
            if isinstance(node, list) and part.isdigit():
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ValueError(f"cannot set [{path}]: [{part}] is not an object")
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        if not isinstance(node, dict):
            raise ValueError(f"cannot set [{path}]")
        node[parts[-1]] = value

    def remove(self, path: str) -> bool:
        node, parts = self._root(path)
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and parts[-1] in node:
            del node[parts[-1]]
            return True
        return False


def java_double(value: float) -> str:
    if value == int(value) and abs(value) < 1e7:
        return f"{value:.1f}"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    mantissa, exponent = f"{value:.17g}".split("e") if "e" in f"{value:.17g}" else (repr(value), "0")
    return f"{float(mantissa)!r}E{int(exponent)}"


def render_value(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, (dict, list)):
        raise AssertionError("a template renders an object or list; the pipelines never do")
    return str(value)


def render(template: str, doc: Document) -> str:
    return _MUSTACHE.sub(lambda m: render_value(doc.get(m.group(1).strip())), template)


def _rendered(value: Any, doc: Document) -> Any:
    if isinstance(value, str):
        if "{{" in value and not _MUSTACHE.search(value):
            raise AssertionError(f"only {{{{{{...}}}}}} snippets are simulated: {value!r}")
        return render(value, doc)
    return copy.deepcopy(value)


# -- grok -----------------------------------------------------------------------------------------------
def grok_expand(pattern: str, definitions: dict[str, str], depth: int = 0) -> str:
    """%{NAME} and %{NAME:field} as Elasticsearch's grok expands them (no built-in patterns here:
    a reference to one is an error, so nothing depends on grok's library)."""
    if depth > 20:
        raise AssertionError("grok definitions nest too deep")

    def sub(m: re.Match[str]) -> str:
        name, sub_name = m.group("name"), m.group("sub")
        if name not in definitions:
            raise AssertionError(f"%{{{name}}} is not in pattern_definitions")
        body = grok_expand(definitions[name], definitions, depth + 1)
        return f"(?<{name}:{sub_name}>{body})" if sub_name else f"(?:{body})"

    return _GROK_REF.sub(sub, pattern)


def group_names(regex: str) -> list[str]:
    """Named groups of an Oniguruma regex in the order of their numbers (only named groups capture)."""
    names, i, in_class = [], 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            i += 1
            continue
        if c == "[":
            i += 2 if regex[i + 1:i + 2] == "]" or regex[i + 1:i + 3] == "^]" else 1
            if regex[i - 1:i + 1] == "^]":
                i += 1
            in_class = True
            continue
        if regex.startswith("(?<", i) and regex[i + 3] not in "=!":
            end = regex.index(">", i)
            names.append(regex[i + 3:end])
            i = end + 1
            continue
        i += 1
    return names


class Grok:
    def __init__(self, patterns: list[str], definitions: dict[str, str], trace: bool) -> None:
        if len(patterns) > 1:
            wrap = "(?<_ingest._grok_match_index.{i}>{p})" if trace else "(?:{p})"
            combined = "|".join(wrap.format(i=i, p=p) for i, p in enumerate(patterns))
        else:
            combined = patterns[0]
        self.regex = grok_expand(combined, definitions)
        self.compiled = onigurumacffi.compile(self.regex)
        self.names = group_names(self.regex)
        assert self.compiled.number_of_captures() == len(self.names), (self.regex, self.names)
        self.trace, self.single = trace, len(patterns) == 1

    def captures(self, text: str) -> dict[str, str] | None:
        m = self.compiled.search(text)
        if m is None:
            return None
        out: dict[str, str] = {}
        for number, name in enumerate(self.names, start=1):
            field = name.split(":")[1] if ":" in name else name
            if field not in out and m._begs[number] != -1:
                out[field] = m.group(number)
        return out


_GROKS: dict[str, Grok] = {}


def grok_for(options: dict[str, Any]) -> Grok:
    key = json.dumps([options["patterns"], options.get("pattern_definitions", {}), options.get("trace_match", False)])
    if key not in _GROKS:
        _GROKS[key] = Grok(options["patterns"], options.get("pattern_definitions", {}), options.get("trace_match", False))
    return _GROKS[key]


# -- gsub -------------------------------------------------------------------------------------------------
GSUB_CALLS: list[tuple[str, str, str, str]] = []  # (pattern, replacement, subject, Python's result)
_PY: dict[str, re.Pattern[str]] = {}


def python_gsub(pattern: str, replacement: str, subject: str) -> str:
    if pattern not in _PY:
        python = re.sub(r"\(\?<([A-Za-z][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
        _PY[pattern] = re.compile(re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", python))  # Java's \z is Python's \Z
    template = re.sub(r"\$\{([A-Za-z][A-Za-z0-9]*)\}", r"\\g<\1>", replacement.replace("\\$", "$"))
    result = _PY[pattern].sub(template, subject)
    GSUB_CALLS.append((pattern, replacement, subject, result))
    return result


# -- dates ------------------------------------------------------------------------------------------------
_JAVA_FORMATS = {
    "yyyy-MM-dd'T'HH:mm:ssXXX": r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2})",
    "yyyy-MM-dd'T'HH:mm:ssXX": r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{4})",
    "yyyy-MM-dd'T'HH:mm:ss": r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})()",
}


def parse_date(text: str, fmt: str) -> dt.datetime:
    if fmt == "UNIX":
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(float(text) * 1000))
    m = re.fullmatch(_JAVA_FORMATS[fmt], text)
    if not m:
        raise ValueError("no match")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    zone = m.group(7)
    offset = dt.timedelta(0)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if offset > dt.timedelta(hours=18):
            raise ValueError("offset out of range")
        offset = offset if zone[0] == "+" else -offset
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone(offset))


# -- processors -------------------------------------------------------------------------------------------
def _string(doc: Document, field: str, options: dict[str, Any]) -> str | None:
    value = doc.get(field)
    if value is MISSING or value is None:
        if options.get("ignore_missing"):
            return None
        raise ValueError(f"field [{field}] not present")
    if not isinstance(value, str):
        raise ValueError(f"field [{field}] is not a string")
    return value


def convert(value: Any, kind: str) -> Any:
    if isinstance(value, list):
        return [convert(v, kind) for v in value]
    text = render_value(value) if not isinstance(value, str) else value
    if kind == "string":
        return text
    if kind == "long":
        if not re.fullmatch(r"[+-]?(?:0[xX][0-9a-fA-F]+|#[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text):
            raise ValueError("unable to convert to long")
        return int(text, 0) if not text.lstrip("+-").startswith("#") else int(text.replace("#", "0x"), 16)
    if kind == "double":
        return float(text)
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ValueError("not a boolean")
    if kind == "ip":
        import ipaddress
        ipaddress.ip_address(text)
        return text
    raise AssertionError(kind)


class Simulator:
    def __init__(self, pipelines: dict[str, dict[str, Any]]) -> None:
        self.pipelines = pipelines

    def run(self, name: str, source: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The document after pipeline `name`, and the dataset it was rerouted to (None: stays)."""
        doc = Document(copy.deepcopy(source))
        try:
            self.pipeline(name, doc)
        except Rerouted as r:
            return doc.source, r.dataset
        return doc.source, None

    def pipeline(self, name: str, doc: Document) -> None:
        body = self.pipelines[name]
        try:
            self.processors(body["processors"], doc)
        except ProcessorFailure as failure:
            if not body.get("on_failure"):
                raise
            doc.ingest.update(on_failure_message=failure.message, on_failure_processor_type=failure.kind,
                              on_failure_processor_tag=failure.tag, on_failure_pipeline=name)
            self.processors(body["on_failure"], doc)

    def processors(self, processors: list[dict[str, Any]], doc: Document) -> None:
        for processor in processors:
            self.one(processor, doc)

    def one(self, processor: dict[str, Any], doc: Document) -> None:
        [(kind, options)] = processor.items()
        if "if" in options:
            try:
                holds = evaluate(options["if"], doc.source)
            except PainlessError as exc:
                raise ProcessorFailure(kind, options.get("tag"), f"condition failed: {exc}") from None
            if holds is not True:
                return
        try:
            getattr(self, f"do_{kind}")(options, doc)
        except (Rerouted, ProcessorFailure) as exc:
            if isinstance(exc, ProcessorFailure) and options.get("on_failure"):
                self.processors(options["on_failure"], doc)
            elif isinstance(exc, ProcessorFailure) and options.get("ignore_failure"):
                pass
            else:
                raise
        except (ValueError, KeyError, TypeError, PainlessError) as exc:
            if options.get("on_failure"):
                doc.ingest.update(on_failure_message=str(exc), on_failure_processor_type=kind,
                                  on_failure_processor_tag=options.get("tag"))
                self.processors(options["on_failure"], doc)
            elif not options.get("ignore_failure"):
                raise ProcessorFailure(kind, options.get("tag"), str(exc)) from None

    # each do_<processor> implements the options the pipelines use
    def do_set(self, o: dict[str, Any], doc: Document) -> None:
        field = render(o["field"], doc)
        if o.get("override") is False and doc.get(field) not in (MISSING, None):
            return
        if "copy_from" in o:
            value = doc.get(o["copy_from"])
            if value is MISSING:
                raise ValueError(f"field [{o['copy_from']}] not present")
            value = copy.deepcopy(value)
        else:
            value = _rendered(o["value"], doc)
        if o.get("ignore_empty_value") and value in (None, ""):
            return
        doc.set(field, value)

    def do_remove(self, o: dict[str, Any], doc: Document) -> None:
        for field in o["field"] if isinstance(o["field"], list) else [o["field"]]:
            if not doc.remove(field) and not o.get("ignore_missing"):
                raise ValueError(f"field [{field}] not present")

    def do_rename(self, o: dict[str, Any], doc: Document) -> None:
        value = doc.get(o["field"])
        if value is MISSING:
            if o.get("ignore_missing"):
                return
            raise ValueError("field not present")
        if doc.get(o["target_field"]) is not MISSING:
            raise ValueError("target exists")
        doc.remove(o["field"])
        doc.set(o["target_field"], value)

    def do_append(self, o: dict[str, Any], doc: Document) -> None:
        field = render(o["field"], doc)
        values = copy.deepcopy(doc.get(o["copy_from"])) if "copy_from" in o else _rendered(o["value"], doc)
        values = values if isinstance(values, list) else [values]
        current = doc.get(field)
        current = [] if current is MISSING or current is None else current if isinstance(current, list) else [current]
        for value in values:
            if o.get("allow_duplicates", True) or value not in current:
                current.append(value)
        doc.set(field, current)

    def do_grok(self, o: dict[str, Any], doc: Document) -> None:
        text = _string(doc, o["field"], o)
        if text is None:
            return
        grok = grok_for(o)
        found = grok.captures(text)
        if found is None:
            raise ValueError("Provided Grok expressions do not match field value")
        index = None
        for field, value in found.items():
            if field.startswith("_ingest._grok_match_index."):
                index = field.rsplit(".", 1)[1]
            else:
                doc.set(field, value)
        if o.get("trace_match"):
            doc.ingest["_grok_match_index"] = "0" if grok.single else index

    def do_gsub(self, o: dict[str, Any], doc: Document) -> None:
        value = doc.get(o["field"])
        if value is MISSING or value is None:
            if o.get("ignore_missing"):
                return
            raise ValueError("field not present")
        if isinstance(value, list):
            doc.set(o["field"], [python_gsub(o["pattern"], o["replacement"], v) for v in value])
        elif isinstance(value, str):
            doc.set(o["field"], python_gsub(o["pattern"], o["replacement"], value))
        else:
            raise ValueError("not a string")

    def do_convert(self, o: dict[str, Any], doc: Document) -> None:
        value = doc.get(o["field"])
        if value is MISSING or value is None:
            if o.get("ignore_missing"):
                return
            raise ValueError("field not present")
        doc.set(o.get("target_field", o["field"]), convert(value, o["type"]))

    def do_date(self, o: dict[str, Any], doc: Document) -> None:
        text = render_value(doc.get(o["field"]))
        assert o.get("timezone", "UTC") == "UTC" and o["output_format"] == "yyyy-MM-dd'T'HH:mm:ss"
        for fmt in o["formats"]:
            try:
                moment = parse_date(text, fmt)
                break
            except (ValueError, OverflowError):
                continue
        else:
            raise ValueError("unable to parse date")
        doc.set(o.get("target_field", "@timestamp"), moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))

    def do_json(self, o: dict[str, Any], doc: Document) -> None:
        text = _string(doc, o["field"], o)
        assert not o.get("add_to_root")

        def constant(name: str) -> Any:
            raise ValueError(f"{name} is not JSON")

        doc.set(o.get("target_field", o["field"]), json.loads(text, parse_constant=constant))

    def do_dot_expander(self, o: dict[str, Any], doc: Document) -> None:
        target = doc.get(o["path"])
        assert o["field"] == "*"
        if not isinstance(target, dict):
            raise ValueError("path is not an object")
        for key in [k for k in target if "." in k]:
            value = target.pop(key)
            node = target
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError("cannot expand")
            node[leaf] = value

    def do_foreach(self, o: dict[str, Any], doc: Document) -> None:
        items = doc.get(o["field"])
        if items is MISSING or items is None:
            if o.get("ignore_missing"):
                return
            raise ValueError("field not present")
        for i, item in enumerate(items):
            doc.ingest["_value"] = item
            self.one(o["processor"], doc)
            items[i] = doc.ingest.pop("_value")

    def do_join(self, o: dict[str, Any], doc: Document) -> None:
        items = doc.get(o["field"])
        if not isinstance(items, list):
            raise ValueError("not a list")
        doc.set(o.get("target_field", o["field"]), o["separator"].join(render_value(v) for v in items))

    def do_fail(self, o: dict[str, Any], doc: Document) -> None:
        raise ProcessorFailure("fail", o.get("tag"), render(o["message"], doc))

    def do_pipeline(self, o: dict[str, Any], doc: Document) -> None:
        if o["name"] in self.pipelines:
            self.pipeline(o["name"], doc)
        elif not o.get("ignore_missing_pipeline"):
            raise ValueError("no such pipeline")

    def do_reroute(self, o: dict[str, Any], doc: Document) -> None:
        raise Rerouted(o["dataset"])

    def do_script(self, o: dict[str, Any], doc: Document) -> None:
        assert o.get("lang") == "painless" and "params" not in o
        execute(o["source"], doc.source)


