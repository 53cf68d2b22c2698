"""Local receivers for the hook emitter's destinations, each checking every request against its
protocol's documented shape:

- Splunk HEC `POST /services/collector/event`: `Authorization: Splunk <token>`, a batch of JSON event
  objects (`time` in epoch seconds, `host`, `source`, `sourcetype`, `index`, `event`, `fields` of
  strings), answered `{"text":"Success","code":0}` (with an `ackId` when the request names a channel
  for indexer acknowledgment, then `POST /services/collector/ack?channel=` with `{"acks":[...]}`);
- Elasticsearch `POST /_bulk`: `Content-Type: application/x-ndjson`, `Authorization: ApiKey <key>`,
  action and document lines each ending in a newline, `create` actions into the data stream with
  an `_id`, documents with `@timestamp`; a second create of an `_id` is refused with 409
  (version_conflict_engine_exception), as Elasticsearch does;
- OTLP/HTTP `POST /v1/logs` with `Content-Type: application/json`: an ExportLogsServiceRequest in the
  protobuf JSON mapping (lowerCamelCase names, int64 as decimal strings, AnyValue with one kind).

`fail_next` answers the next N requests with an error status (a `lose` mode stores the documents and
then answers 500, as when a response is lost); `violations` lists what did not match the protocol.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ANY_VALUE_KINDS = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"}
RECORD_FIELDS = {"timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body", "attributes",
                 "droppedAttributesCount", "flags", "traceId", "spanId", "eventName"}
DIGITS = re.compile(r"^[0-9]+$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.headers.items()) + "\n" + self.body.decode("utf-8", "replace")


@dataclass
class Receiver:
    """One HTTP receiver on 127.0.0.1:port; start() and stop() may be called again (an outage)."""

    kind: str
    port: int
    credential: str
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # event ids, in arrival order, duplicates kept
    documents: dict[str, Any] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 503
    lose: int = 0  # store, then answer 500
    ack_ids: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                request = Request("POST", self.path, {k: v for k, v in self.headers.items()}, body)
                receiver.requests.append(request)
                status, answer = receiver.handle(request)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                receiver.violations.append(f"{receiver.kind}: GET {self.path} (only POST is used)")
                self.send_response(405)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, request: Request) -> tuple[int, Any]:
        handlers: dict[str, Callable[[Request], tuple[int, Any]]] = {"hec": self.hec, "bulk": self.bulk, "otlp": self.otlp}
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_status, {"error": "unavailable"}
        return handlers[self.kind](request)

    def violation(self, message: str) -> None:
        self.violations.append(f"{self.kind}: {message}")

    # Splunk HEC
    def hec(self, request: Request) -> tuple[int, Any]:
        url = urlsplit(request.path)
        if request.headers.get("Authorization") != f"Splunk {self.credential}":
            self.violation("Authorization is not `Splunk <token>`")
            return 401, {"text": "Invalid authorization", "code": 3}
        channel = request.headers.get("X-Splunk-Request-Channel")
        if url.path == "/services/collector/ack":
            if not channel or parse_qs(url.query).get("channel") != [channel]:
                self.violation("an ack query without its channel")
            acks = json.loads(request.body).get("acks")
            if not isinstance(acks, list) or not all(isinstance(a, int) for a in acks):
                self.violation("an ack query body is not {\"acks\": [ids]}")
                return 400, {"text": "Invalid data format", "code": 6}
            return 200, {"acks": {str(a): True for a in acks}}
        if url.path != "/services/collector/event":
            self.violation(f"POST to {url.path}")
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            self.violation("Content-Type is not application/json")
        text = request.body.decode("utf-8")
        decoder = json.JSONDecoder()
        position, events = 0, []
        while position < len(text):
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
            if position >= len(text):
                break
            try:
                event, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                self.violation("the body is not a sequence of JSON objects")
                return 400, {"text": "Invalid data format", "code": 6}
            events.append(event)
        for event in events:
            problems = check_hec_event(event)
            for problem in problems:
                self.violation(problem)
            if problems:
                return 400, {"text": "Invalid data format", "code": 6}
        for event in events:
            self.stored.append(event["fields"]["event_id"])
            self.documents[event["fields"]["event_id"]] = event
        if channel:
            self.ack_ids += 1
            return 200, {"text": "Success", "code": 0, "ackId": self.ack_ids}
        return 200, {"text": "Success", "code": 0}

    # Elasticsearch _bulk
    def bulk(self, request: Request) -> tuple[int, Any]:
        if urlsplit(request.path).path != "/_bulk":
            self.violation(f"POST to {request.path}")
            return 404, {"error": "no handler"}
        if request.headers.get("Authorization") != f"ApiKey {self.credential}":
            self.violation("Authorization is not `ApiKey <key>`")
            return 401, {"error": {"type": "security_exception"}, "status": 401}
        if not request.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            self.violation("Content-Type is not application/x-ndjson")
        text = request.body.decode("utf-8")
        if not text.endswith("\n"):
            self.violation("the bulk body does not end with a newline")
            return 400, {"error": {"type": "illegal_argument_exception"}, "status": 400}
        lines = text[:-1].split("\n")
        if len(lines) % 2:
            self.violation("an action line without its document")
            return 400, {"error": {"type": "illegal_argument_exception"}, "status": 400}
        items = []
        for action_line, doc_line in zip(lines[::2], lines[1::2], strict=True):
            action, doc = json.loads(action_line), json.loads(doc_line)
            problems = check_bulk_pair(action, doc)
            for problem in problems:
                self.violation(problem)
            if problems:
                items.append({"create": {"status": 400, "error": {"type": "mapper_parsing_exception"}}})
                continue
            doc_id = action["create"]["_id"]
            if doc_id in self.documents:
                items.append({"create": {"_index": ".ds-logs-kamal.run-default-2026.06.22-000001", "_id": doc_id, "status": 409,
                                         "error": {"type": "version_conflict_engine_exception",
                                                   "reason": f"[{doc_id}]: version conflict, document already exists"}}})
            else:
                self.documents[doc_id] = doc
                self.stored.append(doc_id)
                items.append({"create": {"_index": ".ds-logs-kamal.run-default-2026.06.22-000001", "_id": doc_id,
                                         "_version": 1, "result": "created", "status": 201}})
        if self.lose > 0:
            self.lose -= 1
            return 500, {"error": {"type": "node_disconnected_exception"}, "status": 500}
        return 200, {"took": 3, "errors": any(i["create"]["status"] >= 300 for i in items), "items": items}

    # OTLP/HTTP JSON
    def otlp(self, request: Request) -> tuple[int, Any]:
        if urlsplit(request.path).path != "/v1/logs":
            self.violation(f"POST to {request.path}")
            return 404, {}
        if request.headers.get("Authorization") != self.credential:
            self.violation("the configured Authorization header is missing")
            return 401, {}
        if request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self.violation("Content-Type is not application/json")
            return 415, {}
        body = json.loads(request.body)
        problems = check_otlp_request(body)
        for problem in problems:
            self.violation(problem)
        if problems:
            return 400, {"code": 3, "message": "; ".join(problems)}
        for resource_logs in body["resourceLogs"]:
            for scope_logs in resource_logs["scopeLogs"]:
                for record in scope_logs["logRecords"]:
                    uid = next((a["value"].get("stringValue") for a in record.get("attributes", [])
                                if a["key"] == "log.record.uid"), None)
                    self.stored.append(str(uid))
                    self.documents[str(uid)] = {"resource": resource_logs["resource"], "record": record}
        return 200, {}


def check_hec_event(event: Any) -> list[str]:
    problems = []
    if not isinstance(event, dict):
        return ["an event is not a JSON object"]
    allowed = {"time", "host", "source", "sourcetype", "index", "event", "fields"}
    if set(event) - allowed:
        problems.append(f"unknown event keys {sorted(set(event) - allowed)}")
    if "event" not in event or event["event"] in ("", None):
        problems.append("an event without `event`")
    if not isinstance(event.get("time"), int | float) or not 1e9 < event["time"] < 1e10:
        problems.append("`time` is not epoch seconds")
    if event.get("sourcetype") != "kamal:run":
        problems.append("sourcetype is not kamal:run")
    for key in ("host", "source", "sourcetype", "index"):
        if key in event and not isinstance(event[key], str):
            problems.append(f"`{key}` is not a string")
    fields = event.get("fields")
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()) or "event_id" not in fields:
        problems.append("`fields` is not a flat object of strings with event_id")
    return problems


def check_bulk_pair(action: Any, doc: Any) -> list[str]:
    problems = []
    if not isinstance(action, dict) or list(action) != ["create"]:
        return ["an action line is not a `create` (data streams accept only create)"]
    meta = action["create"]
    if meta.get("_index") != "logs-kamal.run-default":
        problems.append(f"create into {meta.get('_index')!r}, not the data stream logs-kamal.run-default")
    if not isinstance(meta.get("_id"), str) or not meta["_id"]:
        problems.append("a create without an _id")
    if not isinstance(doc, dict) or not isinstance(doc.get("@timestamp"), str) or not ISO.match(doc["@timestamp"]):
        problems.append("a document without an ISO 8601 @timestamp")
    elif (doc.get("event") or {}).get("id") != meta.get("_id"):
        problems.append("event.id is not the _id")
    if isinstance(doc, dict) and doc.get("data_stream") not in (None, {"type": "logs", "dataset": "kamal.run", "namespace": "default"}):
        problems.append("data_stream fields do not name logs-kamal.run-default")
    return problems


def check_any_value(value: Any, where: str) -> list[str]:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ANY_VALUE_KINDS:
        return [f"{where}: not an AnyValue with exactly one kind"]
    kind, inner = next(iter(value.items()))
    if kind == "stringValue" and not isinstance(inner, str):
        return [f"{where}: stringValue is not a string"]
    if kind == "boolValue" and not isinstance(inner, bool):
        return [f"{where}: boolValue is not a boolean"]
    if kind == "intValue" and not (isinstance(inner, str) and re.match(r"^-?[0-9]+$", inner)):
        return [f"{where}: intValue is not an int64 as a decimal string"]
    if kind == "doubleValue" and (isinstance(inner, bool) or not isinstance(inner, int | float)):
        return [f"{where}: doubleValue is not a number"]
    if kind == "arrayValue":
        if not isinstance(inner, dict) or set(inner) - {"values"}:
            return [f"{where}: arrayValue is not {{values: [...]}}"]
        return [p for i, v in enumerate(inner.get("values", [])) for p in check_any_value(v, f"{where}[{i}]")]
    if kind == "kvlistValue":
        if not isinstance(inner, dict) or set(inner) - {"values"}:
            return [f"{where}: kvlistValue is not {{values: [...]}}"]
        return check_attributes(inner.get("values", []), where)
    return []


def check_attributes(attributes: Any, where: str) -> list[str]:
    if not isinstance(attributes, list):
        return [f"{where}: attributes is not a list"]
    problems = []
    keys = []
    for i, attribute in enumerate(attributes):
        if not isinstance(attribute, dict) or set(attribute) != {"key", "value"} or not isinstance(attribute["key"], str):
            problems.append(f"{where}.attributes[{i}]: not a KeyValue")
            continue
        keys.append(attribute["key"])
        problems += check_any_value(attribute["value"], f"{where}.{attribute['key']}")
    if len(keys) != len(set(keys)):
        problems.append(f"{where}: duplicate attribute keys")
    return problems


def check_otlp_request(body: Any) -> list[str]:
    if not isinstance(body, dict) or set(body) != {"resourceLogs"} or not isinstance(body["resourceLogs"], list):
        return ["the body is not an ExportLogsServiceRequest {resourceLogs: [...]}"]
    problems = []
    for i, resource_logs in enumerate(body["resourceLogs"]):
        where = f"resourceLogs[{i}]"
        if not isinstance(resource_logs, dict) or set(resource_logs) - {"resource", "scopeLogs", "schemaUrl"}:
            problems.append(f"{where}: unknown fields")
            continue
        resource = resource_logs.get("resource", {})
        if set(resource) - {"attributes", "droppedAttributesCount"}:
            problems.append(f"{where}.resource: unknown fields")
        problems += check_attributes(resource.get("attributes", []), f"{where}.resource")
        for j, scope_logs in enumerate(resource_logs.get("scopeLogs", [])):
            swhere = f"{where}.scopeLogs[{j}]"
            if set(scope_logs) - {"scope", "logRecords", "schemaUrl"}:
                problems.append(f"{swhere}: unknown fields")
            scope = scope_logs.get("scope", {})
            if set(scope) - {"name", "version", "attributes", "droppedAttributesCount"}:
                problems.append(f"{swhere}.scope: unknown fields")
            for k, record in enumerate(scope_logs.get("logRecords", [])):
                rwhere = f"{swhere}.logRecords[{k}]"
                if set(record) - RECORD_FIELDS:
                    problems.append(f"{rwhere}: unknown fields {sorted(set(record) - RECORD_FIELDS)}")
                for name in ("timeUnixNano", "observedTimeUnixNano"):
                    if name in record and not (isinstance(record[name], str) and DIGITS.match(record[name])):
                        problems.append(f"{rwhere}.{name}: not a fixed64 as a decimal string")
                if not isinstance(record.get("severityNumber"), int) or not 1 <= record["severityNumber"] <= 24:
                    problems.append(f"{rwhere}.severityNumber: not a SeverityNumber (1-24)")
                if "body" in record:
                    problems += check_any_value(record["body"], f"{rwhere}.body")
                problems += check_attributes(record.get("attributes", []), rwhere)
    return problems
