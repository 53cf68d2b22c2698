"""The audit log (a text format): grok generated from parsers/audit.yml.

What the parser does (converter/parsing/engine.py TextParser) and how the pipeline does it:

- Each `] ` after the head is a candidate end of the self-asserted performer, nearest first, at most
  `max_splits`; the first candidate whose message is a known one wins. The frame grok does the same
  with a lazy performer of at most `max_splits - 1` `] ` and the known messages as an alternation
  after the tags: Oniguruma tries the nearest candidate first, exactly like the parser. A second
  pattern (no known message) takes the nearest candidate, with the fallback action.
- The message is classified by a second grok over the message alone, one pattern per message rule in
  file order (`trace_match` gives the rule), which also captures the rule's fields.
- Tags, file name, destination, role and service follow converter/parsing/audit_tags.py.
- Not mirrored: when the nearest candidate with a known message has tags that disagree with the file
  name or the message, the parser goes on looking for a later candidate that agrees; the pipeline
  keeps the nearest one and flags it `tag_mismatch` (a forged performer that holds a whole second
  set of tags and a known message). tests/test_elastic_ingest.py lists the lines where this differs.
"""

from __future__ import annotations

from .builder import Builder
from .painless import absent, all_of, any_of, lit, not_, present, ref
from .processors import Processor, copy, grok, mustache, proc, remove, set_value, stage
from .regex import grok_regex, ordered

SEGMENT = r"(?>(?:[^\]]|\](?! ))*)"  # performer text up to (not including) the next `] ` (atomic: it cannot end elsewhere)


def _staged(name: str) -> str:
    return stage(name)


def frame_patterns(b: Builder) -> tuple[list[str], dict[str, str]]:
    """The frame grok's two patterns (known message, fallback) and its pattern definitions."""
    definition = b.definition
    frame = definition.frame
    assert frame is not None
    known = "|".join(grok_regex(rule.regex.pattern[len('^(?:'):-len(')$')]) for rule in definition.messages if rule.regex is not None)
    definitions = {
        "KAMAL_AUDIT_HEAD": grok_regex(frame.head.pattern, _staged),
        "KAMAL_AUDIT_TAGS": grok_regex(frame.tags.pattern, _staged),
        "KAMAL_AUDIT_MESSAGE": f"(?:{known})",
    }
    limit = frame.max_splits - 1
    performer = f"(?<{stage(frame.performer)}>{SEGMENT}(?:\\] {SEGMENT}){{0,{limit}}}?)"
    patterns = [
        f"%{{KAMAL_AUDIT_HEAD}}{performer}\\]%{{KAMAL_AUDIT_TAGS}}(?<{stage('message')}>%{{KAMAL_AUDIT_MESSAGE}})\\Z",
        f"%{{KAMAL_AUDIT_HEAD}}(?<{stage(frame.performer)}>{SEGMENT})\\]%{{KAMAL_AUDIT_TAGS}}(?<{stage('message')}>.*)\\Z",
    ]
    return patterns, definitions


def classify_patterns(b: Builder) -> list[str]:
    """One pattern per message rule, over the message alone, captures into the scratch object."""
    return [grok_regex(rule.regex.pattern, lambda n: f"_tmp.g.{n}") for rule in b.definition.messages if rule.regex is not None]


def split_limit_pattern(b: Builder) -> str:
    """Matches a line with more `] ` after the head than the parser tries (`max_splits`)."""
    frame = b.definition.frame
    assert frame is not None
    head = grok_regex(frame.head.pattern)
    return f"{head}{SEGMENT}(?:\\] {SEGMENT}){{{frame.max_splits - 1}}}\\] "


def frame(b: Builder) -> None:
    definition = b.definition
    assert definition.frame is not None and definition.fallback is not None
    patterns, pattern_definitions = frame_patterns(b)
    b.emit(set_value("_tmp.reject", f"not a Kamal {definition.log_type} line"),
           grok("event.original", patterns, pattern_definitions=pattern_definitions, trace_match=True, tag="audit_frame"),
           set_value("_tmp.frame", "{{{_ingest._grok_match_index}}}"),
           remove("_tmp.reject"))
    for name in ("message", "_recorded_at", "_zone"):  # an empty capture is absent (performer and tags stay)
        b.emit(remove(stage(name), when=f"{ref(stage(name))} == ''"))
    known = f"{ref('_tmp.frame')} == '0'"
    names = sorted({n for rule in definition.messages if rule.regex is not None for n in rule.regex.groupindex})
    b.emit(remove("_tmp.g"),
           grok(stage("message"), classify_patterns(b), trace_match=True, when=known, tag="audit_message"),
           set_value("_tmp.kind", "{{{_ingest._grok_match_index}}}", when=known))
    b.put_captures(names)
    by_action: dict[str, list[str]] = {}
    by_role_tag: dict[str, list[str]] = {}
    for i, rule in enumerate(definition.messages):
        by_action.setdefault(rule.action, []).append(str(i))
        by_role_tag.setdefault(rule.role_tag, []).append(str(i))
    for action, kinds in by_action.items():
        b.put("action", action, all_of(known, any_of(*(f"{ref('_tmp.kind')} == {lit(k)}" for k in kinds))))
    for role_tag, kinds in by_role_tag.items():
        b.emit(set_value("_tmp.role_tag", role_tag, when=all_of(known, any_of(*(f"{ref('_tmp.kind')} == {lit(k)}" for k in kinds)))))
    for i, rule in enumerate(definition.messages):
        for name, value in rule.set.items():
            b.put(name, value, all_of(known, f"{ref('_tmp.kind')} == {lit(str(i))}"))
    fallback = not_(known)
    b.put("action", definition.fallback.action, fallback)
    b.emit(set_value("_tmp.role_tag", definition.fallback.role_tag, when=fallback))


def file_name(b: Builder) -> None:
    """`log.file.path` (the shipper's path of the audit file) gives the service and destination."""
    definition = b.definition
    patterns = ordered([grok_regex(rx.pattern, _staged) for rx in definition.path_regexes])
    destinations = "|".join(definition.known_destinations)
    b.emit(grok("log.file.path", patterns, ignore_missing=True, ignore_failure=True, tag="audit_file_name"),
           grok(stage("_file_stem"), [f"\\A(?<_tmp.file_service>.+?)-(?<_tmp.file_dest>(?:{destinations}))\\Z"],
                ignore_missing=True, ignore_failure=True, tag="audit_file_destination"))


def tags(b: Builder) -> None:
    """converter/parsing/audit_tags.py: consistency of the chosen tags, then destination, role, service."""
    t1, t2, stem, file_dest, role_tag = (ref(stage("_tag1")), ref(stage("_tag2")), ref(stage("_file_stem")),
                                         ref("_tmp.file_dest"), ref("_tmp.role_tag"))
    swap = b.guard(all_of(absent(stage("_tag1")), present(stage("_tag2"))))
    b.emit(copy(stage("_tag1"), stage("_tag2"), when=swap), remove(stage("_tag2"), when=swap))
    zone_less = b.guard(any_of(absent(stage("_zone")), f"{ref(stage('_zone'))} == ''"))
    zoned = not_(zone_less)
    none, one, two = f"{t1} == null", all_of(f"{t1} != null", f"{t2} == null"), f"{t2} != null"
    ends_t1 = f"{stem}.endsWith('-' + {t1})"
    consistent = any_of(
        all_of(zone_less, any_of(all_of(none, f"{role_tag} != 'always'"), all_of(one, f"{role_tag} != 'never'"))),
        all_of(zoned, f"{file_dest} != null", f"{t1} == {file_dest}",
               any_of(all_of(two, f"{role_tag} != 'never'"), all_of(one, f"{role_tag} != 'always'"))),
        all_of(zoned, f"{file_dest} == null", two, f"{role_tag} != 'never'", any_of(f"{stem} == null", ends_t1)),
        all_of(zoned, f"{file_dest} == null", one, any_of(f"{role_tag} != 'never'", f"{stem} == null", ends_t1)),
        all_of(zoned, f"{file_dest} == null", none, f"{role_tag} != 'always'"))
    b.emit(set_value("_tmp.tag_mismatch", True, when=all_of(f"{ref('_tmp.frame')} == '0'", not_(consistent))))
    destination, role = stage("destination"), stage("role")
    both = all_of(zoned, any_of(all_of(f"{file_dest} != null", f"{t1} == {file_dest}"), two))
    alone = all_of(zoned, not_(both), f"{t1} != null")
    b.emit(
        copy(role, stage("_tag1"), when=all_of(zone_less, f"{t1} != null")),
        copy(destination, stage("_tag1"), when=both),
        copy(role, stage("_tag2"), when=all_of(both, two)),
        copy(destination, stage("_tag1"), when=all_of(alone, any_of(
            f"{role_tag} == 'never'",
            all_of(f"{role_tag} == 'optional'", f"{stem} != null", ends_t1),
            all_of(f"{role_tag} == 'optional'", f"{stem} == null")))),
        copy(role, stage("_tag1"), when=all_of(alone, any_of(
            f"{role_tag} == 'always'",
            all_of(f"{role_tag} == 'optional'", f"{stem} != null", not_(ends_t1))))),
        copy(destination, "_tmp.file_dest", when=all_of(zone_less, absent(destination), f"{stem} != null", f"{file_dest} != null")),
        remove(destination, when=f"{ref(destination)} == ''"),
        remove(role, when=f"{ref(role)} == ''"),
    )
    dest = ref(destination)
    b.emit(
        copy(stage("service"), "_tmp.file_service", when=present("_tmp.file_service")),
        proc("script", lang="painless", tag="audit_service",
             source=f"ctx.{stage('service')} = {stem}.substring(0, {stem}.length() - {dest}.length() - 1)",
             when=all_of(absent("_tmp.file_service"), f"{stem} != null", f"{dest} != null",
                         f"{stem}.endsWith('-' + {dest})", f"{stem}.length() > {dest}.length() + 1")),
        copy(stage("service"), stage("_file_stem"), when=all_of(absent(stage("service")), f"{stem} != null")),
    )
    b.coerce("destination")
    b.coerce("role")
    b.coerce("service")


def flags(b: Builder) -> None:
    """Why the performer looks forged or odd (`performer_flags`), in the parser's order."""
    definition = b.definition
    assert definition.flags is not None and definition.frame is not None
    name, into, rules = definition.flags
    subject = stage(name)
    is_text = f"{ref(subject)} instanceof String"
    b.emit(grok("event.original", [f"(?<_tmp.flag.split_limit>{split_limit_pattern(b)})"],
                ignore_failure=True, tag="audit_split_limit",
                when=any_of(f"{ref('_tmp.frame')} == '1'", present("_tmp.tag_mismatch"))))
    raised = []
    for flag, rx in rules:
        b.emit(grok(subject, [f"(?<_tmp.flag.{flag}>{grok_regex(rx.pattern)})"], when=is_text, ignore_failure=True,
                    tag=f"audit_flag_{flag}"))
        raised.append((flag, present(f"_tmp.flag.{flag}")))
    raised += [("split_limit", present("_tmp.flag.split_limit")), ("tag_mismatch", present("_tmp.tag_mismatch"))]
    for flag, condition in raised:
        b.emit(proc("append", field=stage(into), value=flag, when=all_of(is_text, condition)))
    b.emit(remove(subject, when=f"{ref(subject)} == ''"))  # an empty performer is absent; the flag says it was empty


def audit_processors(b: Builder) -> list[Processor]:
    definition = b.definition
    frame(b)
    file_name(b)
    tags(b)
    b.steps(definition.derive, {})
    flags(b)
    b.emit(set_value("_tmp.ts.in", mustache(stage("_recorded_at")) + mustache(stage("_zone")), when=present(stage("_recorded_at"))))
    b.timestamp("_tmp.ts.in", "iso8601", "timestamp: ", True)
    b.timestamp_missing()
    return b.out
