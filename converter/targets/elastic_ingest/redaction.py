"""parsers/redaction.yml as gsub processors (java.util.regex, which gsub runs).

The parser redacts a field's value alone; a pipeline also keeps the whole line (`event.original`),
where the same value sits inside quotes (`Executed cmd '--password x'`, `"query":"token=x"`). So
every rule's `^` also accepts the start of a quoted string, and two rules come from `keys` (a field
whose name says it is a secret): a JSON member `"<secret name>": "<value>"` and an OTLP attribute
`{"key": "<secret name>", "value": {"stringValue": "<value>"}}`. Values that are objects or
arrays under a secret name, and argument vectors (`["-p", "<password>"]`), are beyond regexes:
process events (the only source with argument vectors) do not keep `event.original`."""

from __future__ import annotations

from ...fields import FieldDictionary
from ...parsing.redaction import Redactor
from .processors import Processor, proc
from .regex import rewrite, java_regex, quote_anchored

JSON_STRING = r'(?:[^"\\]|\\.)*'
SPACE = "[ \\t]*"


def _replacement(redactor: Redactor) -> str:
    literal = redactor.replacement.replace("\\", "\\\\").replace("$", "\\$")
    return "${before}" + literal + "${after}"


def key_name(redactor: Redactor) -> str:
    """`keys` (written for a lower-cased name alone) for a quoted name in JSON text."""
    anchored = rewrite(redactor.keys.pattern, None, {"^": '(?<=")', "$": '(?=")'})
    return f'"(?i:{JSON_STRING}?{anchored})"'


def text_rules(redactor: Redactor) -> list[tuple[str, str]]:
    return [(name, quote_anchored(java_regex(rx.pattern))) for name, rx in redactor.rules]


def key_rules(redactor: Redactor) -> list[tuple[str, str]]:
    name = key_name(redactor)
    member = f'(?<before>{name}{SPACE}:{SPACE}")(?<secret>{JSON_STRING})(?<after>")'
    attribute = (f'(?<before>"key"{SPACE}:{SPACE}{name}{SPACE},{SPACE}"value"{SPACE}:{SPACE}\\{{{SPACE}'
                 f'"(?:stringValue|bytesValue)"{SPACE}:{SPACE}")(?<secret>{JSON_STRING})(?<after>")')
    return [("json_member_by_key", member), ("otlp_attribute_by_key", attribute)]


def redacted_fields(redactor: Redactor, dictionary: FieldDictionary, log_type: str) -> list[str]:
    """The ECS fields of `log_type` the parser redacts (`extra` is not written by the pipelines)."""
    return [dictionary[name].ecs for name in redactor.fields
            if name in dictionary and log_type in dictionary[name].sources and dictionary[name].type != "object"]


def gsubs(field: str, rules: list[tuple[str, str]], replacement: str, when: str = "") -> list[Processor]:
    return [proc("gsub", field=field, pattern=pattern, replacement=replacement, ignore_missing=True, when=when,
                 tag=f"redact_{name}", description=f"redaction rule {name}") for name, pattern in rules]


def redaction_processors(redactor: Redactor, fields: list[str], lines: list[str], when: str = "") -> list[Processor]:
    """Mask secret values in the parsed `fields` and in the raw `lines` (`event.original`), which
    may also be JSON text."""
    replacement = _replacement(redactor)
    out: list[Processor] = []
    for field in fields:
        out += gsubs(field, text_rules(redactor), replacement, when)
    for field in lines:
        out += gsubs(field, text_rules(redactor) + key_rules(redactor), replacement, when)
    return out
