"""What TA-kamal tells Splunk about one log source: its props.conf stanza (index-time settings,
field extractions, aliases, calculated fields, lookups) and the transforms it uses.

Every field of the log type in the field dictionary is produced under its Splunk name (fields.yml
`splunk:`), computed as the parser definition computes it (splunk_text.py for the framed audit log,
splunk_json.py for JSON), plus the CIM fields of splunk_ta.yml. A calculated field reads only what
Splunk extracted (EXTRACT, REPORT, KV_MODE, FIELDALIAS), never another calculated field, because
Splunk computes them side by side; `check_dependencies` enforces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..fields import FieldDictionary
from ..parsing.definitions import ParserDefinition
from ..pipelines import FRAMING
from .splunk_eval import NULL, Bin, Call, Expr, Fld, Not, Str, coalesce
from .splunk_json import OTLP_TRANSFORMS, SPLUNK_FIELDS, Transform, json_env
from .splunk_redaction import sedcmds
from .splunk_steps import Env
from .splunk_text import text_fields

NOT_SEARCHED = {*FRAMING, "timestamp", "extra"}  # where an event was read, _time, an object
ACTION_LOOKUP = "kamal_cim_actions"
STATUS_LOOKUP = "kamal_cim_status"
ACTION_OUTPUTS = ("action", "object_category", "change_type")
_ALIASABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass
class Knowledge:
    log_type: str
    sourcetype: str
    description: str
    index_time: dict[str, Any]
    sedcmds: dict[str, str] = field(default_factory=dict)  # SEDCMD-<class>: s/regex/replacement/g, at index time
    extracts: dict[str, str] = field(default_factory=dict)  # EXTRACT-<class>: regex [in <field>]
    reports: list[Transform] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # new name: the field it aliases
    evals: dict[str, Expr] = field(default_factory=dict)
    lookups: dict[str, str] = field(default_factory=dict)  # LOOKUP-<class>: its value
    lookup_outputs: tuple[str, ...] = ()

    def produced(self) -> set[str]:
        """The fields this sourcetype's knowledge gives an event (beyond what KV_MODE extracts)."""
        extracted = {name for regex in self.extracts.values() for name in re.findall(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", regex)}
        return extracted | set(self.aliases) | set(self.evals) | set(self.lookup_outputs)


def fields_in(expr: Expr) -> set[str]:
    if isinstance(expr, Fld):
        return {expr.name}
    if isinstance(expr, Call):
        return {name for a in expr.args for name in fields_in(a)}
    if isinstance(expr, Bin):
        return fields_in(expr.left) | fields_in(expr.right)
    if isinstance(expr, Not):
        return fields_in(expr.operand)
    return set()


def check_dependencies(k: Knowledge) -> None:
    """Calculated fields read no calculated field, aliases alias no computed field."""
    computed = set(k.evals)
    for name, expr in k.evals.items():
        used = fields_in(expr) & computed
        if used:
            raise ValueError(f"{k.sourcetype}: EVAL-{name} reads the calculated field(s) {sorted(used)}")
    for name, source in k.aliases.items():
        if source in computed or source in k.aliases:
            raise ValueError(f"{k.sourcetype}: FIELDALIAS {source} AS {name} aliases a computed field")


def _cim_expr(spec: dict[str, Any], env: Env, dictionary: FieldDictionary) -> Expr:
    if "value" in spec:
        return Str(str(spec["value"]))
    options: list[Expr] = []
    for name in spec["coalesce"]:
        if name.startswith("splunk:"):
            options.append(Fld(name.removeprefix("splunk:")))
        else:
            if name not in dictionary:
                raise ValueError(f"splunk_ta.yml: {name!r} is not a field of the dictionary")
            options.append(env.get(name))
    return coalesce(*options)


def knowledge(log_type: str, definition: ParserDefinition, dictionary: FieldDictionary, spec: dict[str, Any]) -> Knowledge:
    source = dictionary.logsources[log_type]
    ours = [f for f in dictionary.fields_of(log_type) if f.name not in NOT_SEARCHED]
    cim = spec.get("cim", {})
    cim_fields: dict[str, Any] = cim.get("fields", {})
    lookup_outputs: list[str] = []
    if cim.get("actions"):
        lookup_outputs += ACTION_OUTPUTS
    if cim.get("status"):
        lookup_outputs.append("status")
    outputs = {f.splunk for f in ours} | set(cim_fields) | {"log_type"} | set(lookup_outputs)
    k = Knowledge(log_type, source.splunk_sourcetype, source.description, dict(spec["index_time"]),
                  sedcmds=sedcmds(json_log=definition.format == "json"))
    if definition.format == "text":
        text = text_fields(definition, dictionary)
        k.extracts, env = text.extracts, text.env
    else:
        env = json_env(definition, dictionary, frozenset(outputs | SPLUNK_FIELDS))
        if definition.expand == "otlp_logs":
            k.reports = list(OTLP_TRANSFORMS)
    values: dict[str, Expr] = {f.splunk: env.get(f.name) for f in ours}
    values["log_type"] = Str(log_type)
    for name, cim_spec in cim_fields.items():
        values[name] = _cim_expr(cim_spec, env, dictionary)
    extracted = k.produced()
    for name, expr in sorted(values.items()):
        if expr == NULL or (isinstance(expr, Fld) and expr.name == name and name in extracted):
            continue
        if isinstance(expr, Fld) and _ALIASABLE.match(expr.name) and expr.name not in outputs:
            k.aliases[name] = expr.name
        else:
            k.evals[name] = expr
    if cim.get("actions"):
        k.lookups[ACTION_LOOKUP] = f"{ACTION_LOOKUP} log_type {values_name(dictionary, 'action')} OUTPUTNEW {' '.join(ACTION_OUTPUTS)}"
    if cim.get("status"):
        k.lookups[STATUS_LOOKUP] = f"{STATUS_LOOKUP} {values_name(dictionary, 'outcome')} OUTPUTNEW status"
    k.lookup_outputs = tuple(lookup_outputs)
    check_dependencies(k)
    return k


def values_name(dictionary: FieldDictionary, name: str) -> str:
    return dictionary[name].splunk


def props_settings(k: Knowledge) -> tuple[dict[str, object], set[str]]:
    """The props.conf stanza of `k`, and the keys whose values are written exactly."""
    settings: dict[str, object] = {
        "description": f"Kamal {k.log_type}: {k.description}",
        "category": "Custom",
        "pulldown_type": 1,
        **k.index_time,
    }
    exact = {"LINE_BREAKER", "TIME_PREFIX", "TIME_FORMAT"}
    for name, sed in k.sedcmds.items():
        settings[f"SEDCMD-{name}"] = sed
        exact.add(f"SEDCMD-{name}")
    for name, regex in k.extracts.items():
        settings[f"EXTRACT-{name}"] = regex
        exact.add(f"EXTRACT-{name}")
    if k.reports:
        settings[f"REPORT-kamal_{k.log_type}"] = ", ".join(t.name for t in k.reports)
    for name, source in sorted(k.aliases.items()):
        settings[f"FIELDALIAS-kamal_{name}"] = f"{source} AS {name}"
    for name, expr in sorted(k.evals.items()):
        settings[f"EVAL-{name}"] = expr.render()
        exact.add(f"EVAL-{name}")
    for name, value in k.lookups.items():
        settings[f"LOOKUP-{name}"] = value
    return settings, exact
