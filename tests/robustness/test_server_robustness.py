"""Robustness of `tickgraph serve` against malformed and hostile requests, sent with raw sockets
to the real binary on 127.0.0.1 (a free port).

Every route of /openapi.json (path parameters filled with an existing asset and graph) gets the
attacks that apply to it: malformed request lines and headers, huge headers (> 16 KiB → 431),
truncated bodies (Content-Length larger than what is sent, then the client closes), bodies that
are not JSON, JSON of the wrong types, invalid UTF-8 inside JSON strings, deep nesting, YAML alias
bombs, invalid UTF-8 and bad values in every documented query parameter and path parameter, and
invalid percent-encoding. Also WebSocket frames that are not ClientMessages, and paths that try to
leave the web UI's root.

The oracle is HTTP itself plus the contract: each request is answered within a socket timeout
(no hang) with a 4xx whose JSON body parses as tickgraph.v1.Error (protobuf's own parser), never a
5xx; a truncated request may instead be closed without an answer; and after every test the server
still answers GET /healthz with 200. The only 2xx answers allowed are for free-text search
parameters (`q`, `exchange`), where any text is a valid query that matches nothing.

Run with Debian's interpreter:
    TICKGRAPH_BIN=build/bin/tickgraph /usr/bin/python3 -m pytest -q \
        tests/robustness/test_server_robustness.py
"""

import base64
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from server_harness import (Api, OpenApi, Server, contract, metric,  # noqa: E402
                            parse_prometheus, tickgraph)

TIMEOUT = 5  # seconds a single exchange may take: longer is a hang
FREE_TEXT = {"q", "exchange"}  # query parameters where any text is a valid (empty) search
SECRET = "tickgraph-robustness-secret-0f3a9"
KEY = None  # the API key of the module's server, set by the fixture


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server without the simulator, serving a web root that holds index.html, with a secret
    file next to (outside) the web root; asset R and graph rg exist."""
    d = tmp_path_factory.mktemp("robust")
    web = d / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>ui</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    (d / "secret.txt").write_text(SECRET)
    s = Server(d, "--no-simulate", "--web-root", web, "--rate-limit", "0",
               "--failed-auth-rate", "100000", auth=True)
    # Hostile input is sent as production would receive it: with auth on and a credential that
    # may do everything, so that every route is reached past its authorization.
    global KEY
    KEY = tickgraph(d, "auth", "key", "add", "robustness", "--scopes", "read,write,admin",
                    "--db", s.db).stdout.split("api_key=")[1].strip()
    api = Api(s.base, key=KEY)
    api.post("/v1/assets", {"symbol": "R"}, expect=201, message="tickgraph.v1.Asset")
    api.post("/v1/graphs", {"name": "rg", "nodes": [
        {"id": "s2", "fn": "sma", "inputs": ["close"], "params": {"period": 2}}]},
        expect=201, message="tickgraph.v1.Graph")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def doc(server):
    return OpenApi(Api(server.base).get("/openapi.json", message="raw").data)


@pytest.fixture(autouse=True)
def still_healthy(server):
    """After each test the process runs and answers /healthz with 200."""
    yield
    assert server.running(), f"the server died: {server.stderr()[-2000:]}"
    r = exchange(server.port, request("GET", "/healthz"))
    assert r is not None and r.status == 200, r


# --------------------------------------------------------------------------------------------
# Raw HTTP


class Response:
    """The first response of what the server sent; `rest` is whatever followed it."""

    def __init__(self, raw):
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        assert parts[0].startswith(b"HTTP/1."), f"not an HTTP response: {raw[:200]!r}"
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower().decode()] = value.strip().decode()
        length = int(self.headers.get("content-length", len(body)))
        self.body, self.rest = body[:length], body[length:]

    def __repr__(self):
        return f"<{self.status} {self.headers.get('content-type')} {self.body[:200]!r}>"


def request(method, target, body=None, headers=None, credential=True):
    """A request's bytes with Connection: close (the server closes after answering), carrying
    the suite's API key unless `credential` is false."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if credential and KEY and not any(h.lower() in ("x-api-key", "authorization")
                                      for h in (headers or {})):
        lines.append(f"X-API-Key: {KEY}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        if "Content-Length" not in (headers or {}):
            lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return data + (body or b"")


def exchange(port, data, half_close=False):
    """Sends raw bytes and reads until the server closes. Returns the Response, or None when the
    server closed without answering. A read that does not end within TIMEOUT is a hang: fails.
    An event stream (200 text/event-stream) is read up to its headers only."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + TIMEOUT
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"no end of response within {TIMEOUT} s: {out[:300]!r}")
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AssertionError(f"hang: nothing more within {TIMEOUT} s after {out[:300]!r}")
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"text/event-stream" in out.split(b"\r\n\r\n")[0]:
                break
    return Response(out) if out else None


def check_4xx(r, what):
    """A 4xx whose body (when JSON) is a tickgraph.v1.Error."""
    assert r is not None, f"{what}: closed without an answer"
    assert 400 <= r.status < 500, f"{what}: {r}"
    if r.headers.get("content-type", "").startswith("application/json"):
        # The token endpoint answers RFC 6749's error fields too (tickgraph.v1.OAuthError).
        name = "tickgraph.v1.OAuthError" if "/oauth2/token" in str(what) else "tickgraph.v1.Error"
        error = contract().parse(r.body.decode("utf-8"), name)
        assert error.code and error.message, f"{what}: {r}"
    else:
        raise AssertionError(f"{what}: a {r.status} without a JSON Error body: {r}")
    return r


def check_401(r, what):
    check_4xx(r, what)
    assert r.status == 401, f"{what}: {r}"


class Problems:
    """Collects the failed checks of a loop, so one run reports all of them."""

    def __init__(self):
        self.found = []

    def check(self, fn, *args):
        try:
            return fn(*args)
        except AssertionError as e:
            self.found.append(str(e).splitlines()[0][:300])

    def assert_none(self):
        assert not self.found, f"{len(self.found)} failures:\n" + "\n".join(self.found[:30])


def check_not_5xx(r, what):
    assert r is not None, f"{what}: closed without an answer"
    assert r.status < 500, f"{what}: {r}"
    if r.headers.get("content-type", "").startswith("application/json"):
        json.loads(r.body.decode("utf-8"))  # valid UTF-8 JSON even when the input was not
    return r


# --------------------------------------------------------------------------------------------
# Routes


FILL = {"symbol": "R", "id": "rg"}
# Query parameters that must be valid for the attacked one to be reached.
BASE_QUERY = {"/v1/assets/{symbol}/analytics": {"graph": "rg"},
              "/v1/stream/sse": {"assets": "R", "interval": "1m"}}


def fill(template, **override):
    return "/".join((override.get(p[1:-1]) or quote(FILL[p[1:-1]])) if p.startswith("{") else p
                    for p in template.split("/"))


def operations(doc):
    return sorted(doc.operations.items())


def body_operations(doc):
    return [(m, t) for (m, t), op in operations(doc) if m in ("POST", "PUT")]


# --------------------------------------------------------------------------------------------
# Malformed requests


MALFORMED = [
    b"GET\r\n\r\n",
    b"\r\n\r\n",
    b"GET /v1/assets\r\n\r\n",
    b"GET /v1/assets HTTP/9.9\r\n\r\n",
    b"GET /v1/assets HTTP/1.1 extra\r\n\r\n",
    b"GET  /v1/assets  HTTP/1.1\r\n\r\n",
    b"GET /v1/as\x00sets HTTP/1.1\r\n\r\n",
    b"GET /v1/assets HTTP/1.1\r\nNoColon\r\n\r\n",
    b"GET /v1/assets HTTP/1.1\r\nBad Name: x\r\n\r\n",
    b"GET /v1/assets HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET /v1/assets HTTP/1.1\nHost: x\n\n",
    b"POST /v1/assets HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
    b"POST /v1/assets HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/assets HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/assets HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST /v1/assets HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json"
    b"\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"GET v1/assets HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET http://example.com/v1/assets HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET * HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"BREW /v1/assets HTTP/1.1\r\nConnection: close\r\n\r\n",
]


@pytest.mark.parametrize("data", MALFORMED, ids=lambda d: repr(d[:40]))
def test_malformed_request_is_4xx(server, data):
    """A malformed request line, header, framing or handshake is answered with one 4xx JSON
    Error, and the connection ends there: nothing after the malformed request is taken as another
    request (RFC 9112 §6.3: a Transfer-Encoding not ending in chunked is 400, then close)."""
    r = check_4xx(exchange(server.port, data), repr(data[:60]))
    assert r.rest == b"", f"a second response followed: {r.rest[:200]!r}"


def test_transfer_encoding_not_ending_in_chunked_is_400_and_close(server):
    """A request whose Transfer-Encoding does not end in chunked has no reliable length: 400 and
    close (RFC 9112 §6.3). Its body must never be run as a second request (request smuggling
    behind a proxy that reads the framing differently)."""
    smuggled = b"GET /v1/assets/R HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = (b"POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip, chunked, identity\r\n\r\n" + smuggled)
    r = check_4xx(exchange(server.port, data), "Transfer-Encoding: gzip, chunked, identity")
    assert r.status == 400
    assert r.rest == b"", f"the body was run as a second request: {r.rest[:300]!r}"


def test_failed_websocket_handshake(server):
    """An upgrade request the WebSocket handshake refuses (no Host) is a 400 JSON Error and is
    not counted as a 101 in /metrics."""
    def upgrades():
        samples = parse_prometheus(exchange(server.port, request("GET", "/metrics")).body.decode())
        return metric(samples, "tickgraph_http_requests_total", route="GET /v1/stream",
                      status="101")

    before = upgrades()
    data = (f"GET /v1/stream HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            f"X-API-Key: {KEY}\r\n\r\n").encode()
    r = exchange(server.port, data)
    assert r is not None and r.status == 400, r
    assert upgrades() == before, "a refused handshake was counted as 101 Switching Protocols"
    check_4xx(r, "upgrade without Host")


def test_huge_headers_are_431(server):
    """Request line and headers over 16 KiB are 431: one long header, many headers, a long
    target."""
    big = request("GET", "/v1/assets", headers={"X-Big": "a" * 17000})
    many = request("GET", "/v1/assets", headers={f"X-H{i}": "b" * 100 for i in range(200)})
    long_target = request("GET", "/v1/assets?q=" + "c" * 17000)
    for data in (big, many, long_target):
        r = check_4xx(exchange(server.port, data), data[:40])
        assert r.status == 431, r


def test_truncated_bodies_to_every_body_route(server, doc):
    """A body shorter than its Content-Length, the client then half-closing or closing, is closed
    or refused with a 4xx, on every route that takes a body; no hang, no 5xx."""
    for method, template in body_operations(doc):
        target = fill(template)
        data = request(method, target, b'{"symbol": "R", "nodes',
                       {"Content-Type": "application/json", "Content-Length": "1000"})
        r = exchange(server.port, data, half_close=True)
        assert r is None or 400 <= r.status < 500, (method, template, r)
        # The client goes away completely in the middle of the body.
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as s:
            s.sendall(data)
        # A huge announced length with almost nothing sent.
        data = request(method, target, b"{", {"Content-Type": "application/json",
                                              "Content-Length": str(1 << 40)})
        r = exchange(server.port, data, half_close=True)
        assert r is None or 400 <= r.status < 500, (method, template, r)


BAD_JSON = [
    b"{", b"}", b"nul", b'{"a":}', b"[1, 2]", b'"text"', b"123", b"null", b"{}}", b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00", b'{"symbol": "\xff\xfe"}', b'{"name": "ab\xc3\x28cd"}',
    b'{"symbol": "\xed\xa0\x80"}', b'{"symbol": "R", "name": "\\ud800"}',
    b'{"symbol": []}', b'{"symbol": {}}', b'{"ticks": "x"}', b'{"ticks": [1]}',
    b'{"ticks": [{"symbol": "R", "time": "99999999999999999999999", "price": 1, "size": 1}]}',
    b'{"ticks": [{"symbol": "R", "time": 1.5, "price": 1, "size": 1}]}',
    b'{"ticks": [{"symbol": "R", "time": "1", "price": 1e999, "size": 1}]}',
    b'{"candles": {}}', b'{"interval": "INTERVAL_2D"}', b'{"interval": 99}',
    b'{"interval": "INTERVAL_1D", "candles": [{"time": "x"}]}',
    b'{"nodes": 5}', b'{"nodes": [{"id": 1}]}', b'{"name": "x", "nodes": [{"params": []}]}',
    b'{"name": "x", "nodes": [{"id": "a", "fn": "sma", "inputs": ["close"], '
    b'"params": {"period": {"nested": 1}}}]}',
    b"[" * 100000, b"[" * 50000 + b"]" * 50000, b'{"a":' * 50000,
    b'{"subscribe": {}}',
]


def test_bad_json_bodies_to_every_body_route(server, doc):
    """Bodies that are not JSON, JSON of the wrong types, invalid UTF-8 in strings, lone
    surrogates, out-of-range numbers and deep nesting, sent to every route that takes a body, are
    refused with a 4xx JSON Error."""
    problems = Problems()
    for method, template in body_operations(doc):
        for body in BAD_JSON:
            data = request(method, fill(template), body, {"Content-Type": "application/json"})
            problems.check(check_4xx, exchange(server.port, data),
                           f"{method} {template} {body[:50]!r}")
    problems.assert_none()


def yaml_bomb():
    """A YAML alias bomb (9^9 references) under keys a graph spec has."""
    levels = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f'&a{i} [' + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return ("name: bomb\nnodes:\n  s: {fn: sma, input: close, period: [" + ", ".join(levels) +
            "]}\n").encode()


BAD_YAML = [
    b"name: [", b"nodes: 5\nname: y", b"- a\n- b", b"name: y\nnodes:\n  s: [1, 2]",
    b"name: y\nnodes:\n  s: {fn: sma, input: close, period: \xff}",
    b"name: \"\xff\xfe\"\nnodes:\n  s: {fn: sma, input: close, period: 2}",
    b"name: y\nnodes:\n  \"s\xc3\x28\": {fn: sma, input: close, period: 2}",
    b"name: y\nnodes:\n  s: {fn: sma, input: close, window: \"5\xffm\"}",
    b"name: y\nnodes:\n  s: {fn: sma, input: close, period: 1e999}",
    b"name: y\nnodes:\n  s: {fn: sma, input: close, period: 99999999999999999999999}",
    b"name: y\nnodes:\n  s: {fn: sma, input: close, period: *missing}",
    b"[" * 50000 + b"]" * 50000, b"a: " * 20000, b"\t\x00\x01",
    yaml_bomb(),
]


def test_bad_yaml_bodies_to_the_graph_routes(server, doc):
    """Invalid YAML specs (syntax, wrong types, invalid UTF-8, huge numbers, unknown aliases,
    deep nesting, an alias bomb) to the routes that take a GraphSpec are refused with a 4xx in
    well under the timeout."""
    problems = Problems()
    for method, template in body_operations(doc):
        if "graphs" not in template:
            continue
        for body in BAD_YAML:
            data = request(method, fill(template), body, {"Content-Type": "application/yaml"})
            start = time.monotonic()
            problems.check(check_4xx, exchange(server.port, data),
                           f"{method} {template} {body[:50]!r}")
            assert time.monotonic() - start < 2, f"{body[:50]!r} took {time.monotonic() - start}"
    problems.assert_none()


# --------------------------------------------------------------------------------------------
# Query and path parameters


BAD_VALUES = ["%FF", "%C3%28", "%ED%A0%80", "%00", "-1", "9" * 23, "x" * 10000, "1e309", "NaN",
              "%E2%80%AE", "' OR 1=1 --"]


def test_bad_query_values_in_every_parameter(server, doc):
    """Each documented query parameter of each route, set to invalid UTF-8, NUL, negative,
    overflowing, huge or nonsense values (the other required parameters valid), is refused with
    a 4xx; free-text search parameters may instead match nothing; never a 5xx."""
    checked = 0
    problems = Problems()
    for (method, template), op in operations(doc):
        params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
        for name in params:
            for value in BAD_VALUES + [""]:
                query = dict(BASE_QUERY.get(template, {}))
                query[name] = None
                parts = [f"{k}={quote(v)}" for k, v in query.items() if v is not None]
                parts.append(f"{name}={value if value.startswith('%') else quote(value)}")
                target = fill(template) + "?" + "&".join(parts)
                what = f"{method} {target[:120]}"
                r = exchange(server.port, request(method, target))
                if name in FREE_TEXT or value == "":
                    problems.check(check_not_5xx, r, what)
                else:
                    problems.check(check_4xx, r, what)
                checked += 1
    assert checked > 100
    problems.assert_none()


def test_every_scoped_route_refuses_requests_without_a_credential(server, doc):
    """Each operation the document marks with a scope answers 401 with a JSON Error when no
    credential comes, before its parameters or body are looked at; public ones do not."""
    problems = Problems()
    scoped = 0
    for (method, template), op in operations(doc):
        target = fill(template)
        query = BASE_QUERY.get(template)
        if query:
            target += "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
        r = exchange(server.port, request(method, target, credential=False))
        if op.get("x-scope"):
            scoped += 1
            problems.check(check_401, r, f"{method} {target}")
        elif r is not None:
            problems.check(check_not_5xx, r, f"{method} {target}")
    assert scoped > 15
    problems.assert_none()


def test_bad_path_parameters(server, doc):
    """Path parameters that are invalid UTF-8, NUL, an encoded slash, '..', overlong or badly
    percent-encoded are answered with a 4xx on every route that has one."""
    values = ["%FF", "%C3%28", "%00", "a%2Fb", "..", "%2E%2E", "x" * 5000, "%ZZ", "%", "%F"]
    problems = Problems()
    for (method, template), _ in operations(doc):
        if "{" not in template:
            continue
        for value in values:
            name = template[template.index("{") + 1:template.index("}")]
            target = fill(template, **{name: value})
            body = b"{}" if method in ("POST", "PUT") else None
            headers = {"Content-Type": "application/json"} if body else None
            problems.check(check_4xx, exchange(server.port, request(method, target, body, headers)),
                           f"{method} {target[:100]}")
    problems.assert_none()


def test_bad_percent_encoding_on_every_route(server, doc):
    """Invalid percent-encoding in the path or the query of every route is 400."""
    for (method, template), _ in operations(doc):
        path = fill(template)
        for target in (path + "?x=%", path + "?x=%G1", path + "?%=1", path.rstrip("/") + "/%Z1"):
            body = b"{}" if method in ("POST", "PUT") else None
            headers = {"Content-Type": "application/json"} if body else None
            r = check_4xx(exchange(server.port, request(method, target, body, headers)),
                          f"{method} {target}")
            if "?" in target:
                assert r.status == 400, (target, r)


def test_wrong_content_types_on_every_body_route(server, doc):
    """Bodies declared as text/plain, form data or no content type at all, on every route that
    takes a body, are 4xx."""
    for method, template in body_operations(doc):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                      None):
            headers = {"Content-Type": ctype} if ctype else {}
            r = exchange(server.port, request(method, fill(template), b"symbol=R", headers))
            check_4xx(r, f"{method} {template} {ctype}")


# --------------------------------------------------------------------------------------------
# The web root


@pytest.mark.parametrize("target", ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                                    "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                                    "/.%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                                    "/assets/..%5c..%5csecret.txt", "//secret.txt"])
def test_static_files_never_leave_the_web_root(server, target):
    """Paths that climb out of the web root never serve the file next to it."""
    r = exchange(server.port, request("GET", target))
    assert r is not None and r.status < 500, (target, r)
    assert SECRET.encode() not in r.body, f"{target} served a file outside the web root"


def test_static_files_are_served(server):
    """The web root itself works (so the test above is not vacuous)."""
    r = exchange(server.port, request("GET", "/assets/app.js"))
    assert r.status == 200 and r.body == b"console.log(1)"
    r = exchange(server.port, request("GET", "/some/client/route"))
    assert r.status == 200 and b"<title>ui</title>" in r.body


# --------------------------------------------------------------------------------------------
# WebSocket frames


def ws_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nX-API-Key: {KEY}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, f"closed during the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def ws_frame(payload, opcode=0x1, fin=True):
    """A masked client frame."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(s):
    """The frames the server sends until it closes: [(opcode, payload)]."""
    frames, buf = [], b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2:
            n, at = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < at + n:
                break
            frames.append((buf[0] & 0x0F, buf[at:at + n]))
            buf = buf[at + n:]
        if frames and frames[-1][0] == 0x8:
            break
    return frames


@pytest.mark.parametrize("frame,expect", [
    (ws_frame(b"not json"), "error"),
    (ws_frame(b'{"subscribe": {"assets": ["\\ud800"], "interval": "INTERVAL_1M"}}'), "error"),
    (ws_frame(b'{"subscribe": {"assets": ["R"], "interval": "INTERVAL_1M", "history": -5}}'),
     "error"),
    (ws_frame(b'{"subscribe": {"assets": ["R"], "interval": "INTERVAL_1M", '
              b'"history": 99999999999}}'), "error"),
    (ws_frame(b"\xff\xfe not utf-8"), "close"),
    (ws_frame(b"\x00\x01\x02", opcode=0x2), "close"),
    (ws_frame(b"[" * (2 << 20)), "close"),
    (ws_frame(b"x", opcode=0x3), "close"),  # a reserved opcode
    (ws_frame(b"x" * 200, opcode=0x9), "close"),  # a control frame over 125 bytes
])
def test_bad_websocket_frames(server, frame, expect):
    """A text frame that is not a ClientMessage gets an Error message and the connection stays
    open; an invalid frame (bad UTF-8, binary, over 1 MiB, reserved opcode, oversized ping) is
    closed with a close frame; the server never crashes."""
    s = ws_connect(server.port)
    try:
        # An oversized frame is refused from its header: send only its start, or the server's
        # close frame can be lost to a reset while the client is still sending the rest.
        s.sendall(frame if len(frame) < 1 << 20 else frame[:1 << 16])
        if expect == "error":
            s.sendall(ws_frame(json.dumps({"subscribe": {"assets": ["R"],
                                                         "interval": "INTERVAL_1M"}}).encode()))
            s.settimeout(1)
            frames = ws_read(s)
            texts = [p.decode() for op, p in frames if op == 0x1]
            assert texts, frames
            assert "error" in json.loads(texts[0]), texts[0]
            contract().parse(texts[0], "tickgraph.v1.StreamMessage")
            assert any("snapshot" in json.loads(t) for t in texts[1:]), texts
        else:
            frames = ws_read(s)
            assert frames and frames[-1][0] == 0x8, f"no close frame: {frames[-3:]}"
            code = struct.unpack("!H", frames[-1][1][:2])[0] if len(frames[-1][1]) >= 2 else 1005
            assert code in (1002, 1003, 1007, 1008, 1009), code
    finally:
        s.close()
