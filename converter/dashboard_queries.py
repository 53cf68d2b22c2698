"""A dashboard panel's filter in each target's language, converted like the rules: the panel's Sigma
detection becomes a pySigma SigmaRule and goes through the pipeline of the target (parsers/fields.yml
names, the log source's macro or index, tuning lists), then the target's backend: SPL (Splunk),
Lucene (Kibana) or a DuckDB condition (the local engine, which the tests run over the samples).

A fresh SigmaRule is made for every conversion: the pipelines change the rule they convert."""

from __future__ import annotations

from sigma.backends.elasticsearch import LuceneBackend
from sigma.backends.splunk import SplunkBackend
from sigma.rule import SigmaRule

from .dashboard_model import Panel
from .fields import FieldDictionary
from .local.duckdb_backend import DuckDBBackend
from .pipelines import pipeline
from .targets.elastic_fields import ecs_fields
from .targets.lucene_exact import lucene_problems
from .tuning import Tuning, load_tuning


class PanelConverter:
    """Converts panels' filters for every target with one set of backends."""

    def __init__(self, dictionary: FieldDictionary, tuning: Tuning | None = None) -> None:
        self.dictionary = dictionary
        self.tuning = tuning or load_tuning()
        self._splunk: SplunkBackend | None = None
        # detection value lists AppInspect would flag in a view (`rm -rf`), moved to lookups: name -> values
        self.splunk_lookups: dict[str, list[str]] = {}
        self._lucene: LuceneBackend | None = None
        self._local: DuckDBBackend | None = None

    @staticmethod
    def rule(panel: Panel) -> SigmaRule:
        if panel.sigma is None:
            raise ValueError(f"panel {panel.id} is not a Sigma detection")
        return SigmaRule.from_dict(panel.sigma)

    def splunk(self, panel: Panel, lookup_prefix: str | None = None) -> str:
        """The SPL search of the panel's events, starting with the log source's macro. With
        `lookup_prefix`, value lists AppInspect flags go to lookups named after it, as the rules' do
        (kept in `splunk_lookups`)."""
        from .targets.splunk_searches import KamalSplunkBackend
        from .targets.splunk_values import move_flagged_values

        if panel.query is not None:
            return panel.query.splunk
        if self._splunk is None:
            self._splunk = KamalSplunkBackend(pipeline("splunk", self.dictionary, self.tuning))
        rule = self.rule(panel)
        if lookup_prefix is not None:
            self.splunk_lookups.update(move_flagged_values(rule, lookup_prefix))
        [query] = self._splunk.convert_rule(rule)
        return str(query)

    def lucene(self, panel: Panel) -> str:
        """The Lucene query of the panel's events (within its data view)."""
        return self._lucene_rule(panel)[0]

    def lucene_problems(self, panel: Panel) -> list[str]:
        """Why the panel's Lucene query does not match exactly what Sigma matches (Elasticsearch
        compares keyword fields case-sensitively), as the Elastic rules judge their own; empty when exact."""
        rule = self._lucene_rule(panel)[1]
        if rule is None:  # a query panel's own Lucene
            return []
        return lucene_problems(rule, ecs_fields(self.dictionary, str(panel.log_type)))

    def _lucene_rule(self, panel: Panel) -> tuple[str, SigmaRule | None]:
        if panel.query is not None:
            return panel.query.lucene, None
        if self._lucene is None:
            self._lucene = LuceneBackend(pipeline("elastic", self.dictionary, self.tuning))
        rule = self.rule(panel)
        [query] = self._lucene.convert_rule(rule)  # applies the pipeline to `rule`: ECS names, values filled in
        return str(query), rule

    def local(self, panel: Panel) -> str:
        """The DuckDB condition over the local engine's events table (log type included)."""
        if self._local is None:
            self._local = DuckDBBackend(processing_pipeline=pipeline("local", self.dictionary, self.tuning),
                                        field_types={f.name: f.type for f in self.dictionary})
        [condition] = self._local.convert_rule(self.rule(panel))
        return str(condition)

    def splunk_name(self, panel: Panel, name: str) -> str:
        """A panel field's name in Splunk (the dictionary's Splunk name, or the query's own)."""
        if panel.query is not None:
            return panel.query.fields[name].splunk
        return self.dictionary[name].splunk

    def elastic_name(self, panel: Panel, name: str) -> str:
        """A panel field's name in Elasticsearch (ECS, or the query's own)."""
        if panel.query is not None:
            return panel.query.fields[name].elastic
        return self.dictionary[name].ecs
