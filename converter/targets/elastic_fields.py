"""What the Elastic converters need to know about a field by its ECS name, per log type: its type,
whether its values are lowercase by construction, whether it can hold several values. All of it
comes from parsers/fields.yml."""

from __future__ import annotations

from dataclasses import dataclass

from ..fields import FieldDictionary
from ..pipelines import FRAMING

# Dictionary types as Elasticsearch maps them (what ES|QL sees)
ES_TYPES = {"keyword": "keyword", "keyword_list": "keyword", "text": "text", "long": "long", "double": "double",
            "boolean": "boolean", "timestamp": "date", "ip": "ip"}


@dataclass(frozen=True)
class EcsField:
    name: str  # the ECS name
    type: str  # the dictionary type (keyword, text, long, ...)
    lowercase: bool  # every value is lowercase by construction
    multivalued: bool  # can hold several values (a keyword_list, or an ECS field outside our dictionary)

    @property
    def numeric(self) -> bool:
        return self.type in ("long", "double")

    @property
    def text(self) -> bool:
        return self.type == "text"


def ecs_fields(dictionary: FieldDictionary, log_type: str) -> dict[str, EcsField]:
    """The fields a rule on `log_type` can name after the Elastic pipeline, by ECS name. The ECS
    fields that select the log source in its indexes (`elastic.conditions` of fields.yml, such as
    `event.category`) are ECS categorization fields: lowercase allowed values, arrays in ECS."""
    out = {f.ecs: EcsField(f.ecs, f.type, f.lowercase, f.type == "keyword_list")
           for f in dictionary.fields_of(log_type) if f.name not in FRAMING and f.type != "object"}
    for name, _value in dictionary.logsources[log_type].elastic_conditions:
        out.setdefault(name, EcsField(name, "keyword", True, True))
    return out


def esql_schema(dictionary: FieldDictionary) -> dict[str, str]:
    """ECS name -> Elasticsearch type of every field the rules can name, and `@timestamp`: the schema
    the ES|QL analyzer checks the generated queries against."""
    schema = {"@timestamp": "date"}
    for log_type in dictionary.log_types:
        for name, field in ecs_fields(dictionary, log_type).items():
            schema[name] = ES_TYPES[field.type]
    return dict(sorted(schema.items()))
