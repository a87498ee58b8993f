"""Fuzz the gateway from its own OpenAPI document: no 5xx, no stack trace, JSON 4xx errors.

A real gateway (aiohttp on a loopback port, real Redis, the Rasa stub) serves
/openapi.json; every operation in it is then called with requests that hypothesis builds
from the document: bodies from its schemas (hypothesis-jsonschema), those bodies with
fields of the wrong type, out-of-range sizes and deep nesting, arbitrary JSON and bytes,
each media type it lists (and a few it does not), its header parameters, and each of: a
valid credential for the operation's security requirement, none, and a forged one. The
requests go over HTTP from a worker thread while the event loop serves them. Counts go to
var/security/gateway_fuzz.json.

Why not schemathesis: no release fits the lock. Up to 3.14 it reads
``werkzeug.__version__`` (gone in Werkzeug 3.1, and its pytest plugin would break every
test run); 3.15-3.24 need pytest<8; 3.22-4.24 need jsonschema>=4.18 (Rasa pins 4.17.3);
4.25 and later need pytest>=8.4. hypothesis-jsonschema 0.22.1 is the last release that takes
jsonschema 4.17, and hypothesis 6.83.2 the last that it works with.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import jsonschema
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from tests.gateway.conftest import BOTH_SECRET, Gateway
from tests.servers import ROOT

REPORT = ROOT / "var" / "security" / "gateway_fuzz.json"
BODY_EXAMPLES = 110  # per operation with a body and credential mode
PLAIN_EXAMPLES = 15  # per operation without one (little to vary but the headers)
TIMEOUT_S = 10.0
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keywords OpenAPI 3.0 allows in a schema that JSON Schema does not know (or reads otherwise).
ANNOTATIONS = {
    *("description", "example", "nullable", "readOnly", "writeOnly", "xml"),
    *("externalDocs", "deprecated", "discriminator", "title"),
}
OPENAPI_FORMATS = {"int32", "int64", "float", "double", "byte", "binary", "password"}

FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same requests on every run
    database=None,  # no .hypothesis/ directory in the work tree
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


# -- the document -----------------------------------------------------------------------


def json_schema(doc: dict, schema: Any, seen: frozenset[str] = frozenset()) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema, with every $ref inlined."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref not in seen, f"recursive $ref {ref}"
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return json_schema(doc, target, seen | {ref})
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: json_schema(doc, sub, seen) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = json_schema(doc, value, seen)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [json_schema(doc, sub, seen) for sub in value]
        elif key == "format" and value in OPENAPI_FORMATS:
            continue
        elif key not in ANNOTATIONS:
            out[key] = value
    for bound in ("minimum", "maximum"):  # 3.0: boolean exclusive bounds
        exclusive = "exclusive" + bound.capitalize()
        if out.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif isinstance(out.get(exclusive), bool):
            del out[exclusive]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: list[dict[str, list[str]]]
    parameters: dict[tuple[str, str], tuple[dict, bool]]  # (in, name) -> (schema, required)
    bodies: dict[str, dict]  # media type -> schema
    responses: dict[str, dict | None]  # status -> schema of a JSON body, or None

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def documents(self, status: int) -> bool:
        codes = (str(status), f"{str(status)[0]}XX", "default")
        return any(code in self.responses for code in codes)


def deref(doc: dict, node: dict) -> dict:
    """A parameter, request body or response object, following its $ref if it has one."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schemas_by_media(doc: dict, node: dict) -> dict[str, dict]:
    content = deref(doc, node).get("content", {})
    return {media: json_schema(doc, spec.get("schema", {})) for media, spec in content.items()}


def operations(doc: dict) -> list[Operation]:
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            params = {}
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = deref(doc, param)
                schema = json_schema(doc, param.get("schema", {"type": "string"}))
                params[(param["in"], param["name"])] = (schema, bool(param.get("required")))
            responses = {
                status: schemas_by_media(doc, response).get("application/json")
                for status, response in op["responses"].items()
            }
            found.append(
                Operation(
                    method=method,
                    path=path,
                    security=op.get("security", doc.get("security", [])),
                    parameters=params,
                    bodies=schemas_by_media(doc, op.get("requestBody", {})),
                    responses=responses,
                )
            )
    return found


# -- what to send -----------------------------------------------------------------------

# Header values as a client can send them: Latin-1 without control characters (bytes
# 0x80-0xff arrive as invalid UTF-8), no leading white space (requests refuses it).
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=60,
).map(str.lstrip)
HEADER_VALUE = re.compile(r"[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*|")
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=20)  # lone surrogates too
BIG_NUMBERS = st.sampled_from([2**63, -(2**63) - 1, 10**400, 1e308, -0.0, 10**4000])
SCALARS = st.none() | st.booleans() | st.integers() | BIG_NUMBERS | st.floats() | ANY_TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(ANY_TEXT, kids, max_size=4),
    max_leaves=12,
)
DEPTH_MARK = "__fuzz_deep__"
# Deep nesting, including just below and above where Python's json gives up.
DEPTHS = st.integers(2, 64) | st.integers(
    sys.getrecursionlimit() - 80, sys.getrecursionlimit() + 20
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# aiohttp answers a header field over 8190 bytes itself, with a plain-text 400, before the
# gateway's middleware sees the request; a big number (10**4000) or escaped text in a claim
# can make a token that long. The cap keeps "Bearer <token>" under that limit, so the
# forged tokens test the gateway's JWT checks, not aiohttp's header parser.
MAX_FORGED_JWT_CHARS = 8000
FORGED_JWT = (
    st.tuples(JSON_VALUES, JSON_VALUES, st.binary(max_size=48))
    .map(
        lambda t: ".".join(
            [b64url(json.dumps(t[0]).encode()), b64url(json.dumps(t[1]).encode()), b64url(t[2])]
        )
    )
    .filter(lambda token: len(token) < MAX_FORGED_JWT_CHARS)
)
BAD_AUTHORIZATION = st.one_of(
    HEADER_TEXT,
    HEADER_TEXT.map("Bearer {}".format),
    FORGED_JWT.map("Bearer {}".format),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    HEADER_TEXT.map("Basic {}".format),
)


def nested(depth: int, as_object: bool) -> str:
    return ('{"a":' * depth + "1" + "}" * depth) if as_object else "[" * depth + "]" * depth


def encode(media: str, value: Any) -> bytes:
    """``value`` as a body of type ``media``; a [DEPTH_MARK, depth, as_object] field value
    becomes that deep a nesting."""
    if media.startswith("application/x-www-form-urlencoded") and isinstance(value, dict):
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return urllib.parse.urlencode(fields, errors="surrogatepass").encode()
    text = json.dumps(value)  # NaN and Infinity on purpose: not JSON, must be refused
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, list) and len(item) == 3 and item[0] == DEPTH_MARK:
                mark = json.dumps(item)
                text = text.replace(mark, nested(item[1], item[2]), 1)
    return text.encode()


def field_values(schema: dict, max_body_bytes: int) -> dict[str, st.SearchStrategy[Any]] | None:
    """Per property: valid values, wrong types, sizes past the limits and deep nesting."""
    props = schema.get("properties")
    if schema.get("type") != "object" or not props:
        return None
    out = {}
    for name, sub in props.items():
        options = [from_schema(sub), JSON_VALUES]
        options.append(st.tuples(st.just(DEPTH_MARK), DEPTHS, st.booleans()).map(list))
        if "maxLength" in sub:
            options.append(st.integers(sub["maxLength"], sub["maxLength"] + 1).map("x".__mul__))
        options.append(st.integers(max_body_bytes - 64, max_body_bytes + 64).map("y".__mul__))
        out[name] = st.one_of(options)
    return out


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes | None


def body_strategy(
    media: str, schema: dict, max_body_bytes: int
) -> st.SearchStrategy[tuple[str, bytes]]:
    content_types = st.sampled_from(
        [media] * 6
        + [f"{media}; charset=utf-8", f'{media}; charset="UTF-8"', media.upper()]
        + [f"{media}; charset=latin-1", f"{media};charset=utf-16"]
    )
    values = [from_schema(schema), JSON_VALUES]
    fields = field_values(schema, max_body_bytes)
    if fields:
        values.append(st.fixed_dictionaries({}, optional=fields))
        extra = st.dictionaries(ANY_TEXT, JSON_VALUES, min_size=1, max_size=2)
        values.append(st.tuples(from_schema(schema), extra).map(lambda t: {**t[1], **t[0]}))
    encoded = st.tuples(content_types, st.one_of(values)).map(lambda t: (t[0], encode(media, t[1])))
    top_nesting = st.tuples(DEPTHS, st.booleans()).map(lambda t: nested(*t).encode())
    # Numbers too long for Python's int() (4300 digits), which json.dumps cannot write.
    names = sorted(schema.get("properties", {})) or ["n"]
    long_number = st.sampled_from(names).map(lambda k: f'{{"{k}": 1{"0" * 5000}}}'.encode())
    return st.one_of(encoded, encoded, encoded, st.tuples(content_types, top_nesting | long_number))


def request_strategy(
    op: Operation, auth: st.SearchStrategy[dict[str, str]], max_body_bytes: int
) -> st.SearchStrategy[Request]:
    headers, query = {}, {}
    optional_headers, optional_query = {}, {}
    for (where, name), (schema, required) in op.parameters.items():
        if where == "header" and schema == {"type": "string"}:
            values = HEADER_TEXT
        elif where == "header":
            values = from_schema(schema).map(str).filter(HEADER_VALUE.fullmatch)
        elif where == "query":
            values = from_schema(schema).map(lambda v: v if isinstance(v, str) else json.dumps(v))
        else:
            raise AssertionError(f"{op.name}: {where} parameters are not fuzzed yet")
        target = headers if where == "header" else query
        optional = optional_headers if where == "header" else optional_query
        (target if required else optional)[name] = values
    other_bodies = st.tuples(
        st.sampled_from(["text/plain", "multipart/form-data; boundary=x", "", "*/*"]) | HEADER_TEXT,
        st.binary(max_size=200),
    )
    if op.bodies:
        bodies = [body_strategy(m, s, max_body_bytes) for m, s in op.bodies.items()]
        body = st.one_of(*bodies * 4, other_bodies)
    else:
        body = st.none() | other_bodies
    return st.builds(
        lambda h, a, q, b: Request(
            {**h, **a, **({"Content-Type": b[0]} if b else {})}, q, b[1] if b else None
        ),
        st.fixed_dictionaries(headers, optional=optional_headers),
        auth,
        st.fixed_dictionaries(query, optional=optional_query),
        body,
    )


def credential(gw: Gateway, doc: dict, op: Operation) -> str | None:
    """A valid Authorization value for the operation's security requirement, if it has one."""
    schemes = doc["components"].get("securitySchemes", {})
    needed = [(schemes[name], scopes) for req in op.security for name, scopes in req.items()]
    scopes = {scope for _, wanted in needed for scope in wanted}
    for scheme, _ in needed:
        if scheme["type"] == "oauth2" or scheme.get("scheme") == "bearer":
            subject = "crm" if "ingest" in scopes else "user_fuzz"
            return f"Bearer {gw.token(subject, scopes or {'chat', 'ingest'})}"
        if scheme.get("scheme") == "basic":
            return "Basic " + base64.b64encode(f"both:{BOTH_SECRET}".encode()).decode()
    return None


# -- what comes back --------------------------------------------------------------------


@dataclass
class Tally:
    """What was sent and what came back, for the assertions and for the JSON report."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    per_operation: dict = field(default_factory=lambda: defaultdict(Counter))
    server_errors: int = 0
    stack_traces: int = 0
    non_json_4xx: int = 0
    transport_errors: int = 0
    undocumented: Counter = field(default_factory=Counter)
    schema_mismatches: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, op: Operation, mode: str, status: int, ctype: str, text: str) -> list[str]:
        self.requests += 1
        self.statuses[str(status)] += 1
        self.per_operation[op.name][f"{mode}: {status}"] += 1
        problems = []
        if status >= 500:
            self.server_errors += 1
            problems.append(f"answered {status}")
        if "Traceback" in text:
            self.stack_traces += 1
            problems.append("a stack trace in the body")
        body = None
        if ctype.startswith("application/json"):
            try:
                body = json.loads(text)
            except ValueError:
                pass
        if 400 <= status < 500 and not (
            isinstance(body, dict) and isinstance(body.get("error"), str)
        ):
            self.non_json_4xx += 1
            problems.append(f"{status} without a JSON error body")
        if not op.documents(status):
            self.undocumented[f"{op.name} {status}"] += 1
        schema = op.responses.get(str(status))
        if schema and body is not None and not jsonschema.Draft7Validator(schema).is_valid(body):
            self.schema_mismatches[f"{op.name} {status}"] += 1
        return problems

    def as_json(self, seconds: float, operation_count: int) -> dict[str, Any]:
        return {
            "tool": f"hypothesis {version('hypothesis')} + "
            f"hypothesis-jsonschema {version('hypothesis-jsonschema')}",
            "seeded": "derandomize=True",
            "operations": operation_count,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "stack_traces": self.stack_traces,
            "non_json_4xx": self.non_json_4xx,
            "transport_errors": self.transport_errors,
            "statuses": dict(sorted(self.statuses.items())),
            "per_operation": {
                name: dict(sorted(counts.items())) for name, counts in self.per_operation.items()
            },
            "undocumented_statuses": dict(self.undocumented),
            "response_schema_mismatches": dict(self.schema_mismatches),
            "failures": self.failures,
            "seconds": round(seconds, 1),
        }


def short(data: Any, limit: int = 300) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def fuzz_operation(
    session: requests.Session,
    base_url: str,
    op: Operation,
    mode: str,
    auth: st.SearchStrategy[dict[str, str]],
    tally: Tally,
    max_body_bytes: int,
) -> None:
    """Run hypothesis over one operation in one credential mode; raises on the first problem."""
    examples = BODY_EXAMPLES if op.bodies else PLAIN_EXAMPLES

    @settings(FUZZ, max_examples=examples)
    @given(request=request_strategy(op, auth, max_body_bytes))
    def run(request: Request) -> None:
        try:
            resp = session.request(
                op.method,
                base_url + op.path,
                params=request.query,
                headers=request.headers,
                data=request.body,
                timeout=TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            tally.transport_errors += 1
            raise AssertionError(f"{op.name} ({mode}): no answer: {exc!r}") from None
        ctype = resp.headers.get("Content-Type", "")
        problems = tally.record(op, mode, resp.status_code, ctype, resp.text)
        assert not problems, (
            f"{op.name} ({mode}): {'; '.join(problems)}\n"
            f"  sent headers={ {k: short(v, 60) for k, v in request.headers.items()} } "
            f"query={short(request.query)} "
            f"body={short(request.body)}\n  got {resp.status_code} {short(resp.text)}"
        )

    run()


def fuzz_all(gw: Gateway, base_url: str, doc: dict, tally: Tally) -> None:
    """Every operation in the document, with a valid credential, none and a forged one."""
    max_body_bytes = gw.config.max_body_bytes
    with requests.Session() as session:
        session.trust_env = False  # loopback only, whatever proxy the environment names
        for op in operations(doc):
            valid = credential(gw, doc, op)
            modes = {"no credential": st.just({})}
            modes["forged credential"] = BAD_AUTHORIZATION.map(lambda v: {"Authorization": v})
            if valid is not None:
                modes["valid credential"] = st.just({"Authorization": valid})
            for mode, auth in modes.items():
                try:
                    fuzz_operation(session, base_url, op, mode, auth, tally, max_body_bytes)
                except AssertionError as exc:
                    tally.failures.append(str(exc))


def first_example(strategy: st.SearchStrategy[Any]) -> Any:
    """Hypothesis' first (simplest) example: the same on every run."""
    found = []

    @settings(FUZZ, max_examples=1, phases=(Phase.generate,))
    @given(strategy)
    def grab(value: Any) -> None:
        found.append(value)

    grab()
    return found[0]


def nesting_sweep(gw: Gateway, base_url: str, doc: dict, tally: Tally) -> None:
    """Valid bodies whose free-form (object or array) fields, and the body itself, are nested
    one level more each time across the depths where Python's json stops (the fuzzer only
    samples this range)."""
    limit = sys.getrecursionlimit()
    depths = range(limit - 120, limit + 10)
    with requests.Session() as session:
        session.trust_env = False  # loopback only, whatever proxy the environment names
        for op in operations(doc):
            valid = credential(gw, doc, op)
            headers = {"Authorization": valid} if valid else {}
            for media, schema in op.bodies.items():
                if not media.startswith("application/json"):
                    continue
                base = first_example(from_schema(schema))
                props = schema.get("properties", {})
                free = [k for k, s in props.items() if s.get("type") in ("object", "array", None)]
                for target in [*free, None]:
                    for depth in depths:
                        if target is None:
                            body = nested(depth, as_object=True).encode()
                        else:
                            body = encode(media, {**base, target: [DEPTH_MARK, depth, True]})
                        resp = session.request(
                            op.method,
                            base_url + op.path,
                            headers={**headers, "Content-Type": media},
                            data=body,
                            timeout=TIMEOUT_S,
                        )
                        ctype = resp.headers.get("Content-Type", "")
                        mode = "nesting sweep"
                        problems = tally.record(op, mode, resp.status_code, ctype, resp.text)
                        if problems:
                            where = f"'{target}'" if target else "the body"
                            tally.failures.append(
                                f"{op.name} ({mode}): {'; '.join(problems)} with {where} "
                                f"nested {depth} deep; got {short(resp.text)}"
                            )


async def test_fuzz_every_operation_from_the_openapi_document(fuzz_gateway: Gateway):
    gw = fuzz_gateway
    resp = await gw.client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    ops = operations(doc)
    assert {op.name for op in ops} >= {"POST /v1/chat", "POST /v1/events/purchase"}
    base_url = str(gw.client.make_url("")).rstrip("/")
    tally = Tally()
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    try:  # the requests are blocking: send them from a thread while this loop serves them
        await loop.run_in_executor(None, fuzz_all, gw, base_url, doc, tally)
        await loop.run_in_executor(None, nesting_sweep, gw, base_url, doc, tally)
    finally:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        report = tally.as_json(time.perf_counter() - started, len(ops))
        REPORT.write_text(json.dumps(report, indent=2) + "\n")
    assert tally.requests > 1000
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.server_errors == tally.stack_traces == tally.non_json_4xx == 0
