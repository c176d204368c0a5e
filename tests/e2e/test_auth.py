"""Authentication and authorization of `tickgraph serve`, end to end.

The real binary runs with auth on. Tokens are real JWTs signed here by keys this test generates
(PyJWT and cryptography): RS256 and ES256 keys published by a local JWKS server (an HTTP server
in this process, standing in for an identity provider's JWKS URL), and an HS256 shared secret
given to the server in a file. The built-in token endpoint's clients and the API keys are created
with `tickgraph auth …` against the same SQLite file the server uses.

Every bad credential gets its documented status and `details.reason` on REST, on the WebSocket
handshake and on SSE: 401 (missing, malformed, bad signature, wrong key, expired, not yet valid,
wrong issuer or audience, alg none, HS/RS confusion, revoked client, bad or revoked API key), 403
(valid but lacking the scope). Then the token endpoint, the admin routes, rate limits, logs and
metrics, the limits on connections, and the auth keys of a --config file. Deadlines are the
README's promises plus a stated margin; rate-limit counts allow for what refilled in the measured
time, so a slow machine cannot make them fail.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/e2e/test_auth.py
"""

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import math
import socket
import threading
import time

import jwt
import pytest
import requests
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server_harness import BIN, Server, metric, parse_prometheus, tickgraph

AUDIENCE = "tickgraph"
IDP = "https://idp.example.test"
HS_SECRET = "an-hs256-secret-of-at-least-32-bytes!!"
SYMBOL = "AUTHA"

# Deadlines are the README's promises plus a stated margin, never a loose guess. The margin is
# for a loaded machine: the server's 1 s stream watcher and its timers may fire a little late,
# and a request takes some time to arrive.
SKEW_S = 5  # the module server's --clock-skew
REVOCATION_PROMISE_S = 2  # "Revocation … takes effect within 2 s"
STREAM_CLOSE_PROMISE_S = 1  # "streams opened with a revoked credential, or whose token
#                            expires, are closed within a second"
MARGIN_S = 1


def key_secret(api_key):
    """The secret part of "tgk_<16 hex>_<secret>" (the secret itself may contain '_')."""
    assert api_key.startswith("tgk_") and api_key[20] == "_", api_key
    return api_key[21:]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_int(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Idp:
    """An identity provider's keys and the JWKS URL that publishes them."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.publish_rotated = False
        self.fetches = 0
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                idp.fetches += 1
                body = json.dumps(idp.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def jwks(self):
        def rsa_jwk(key, kid):
            n = key.public_key().public_numbers()
            return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                    "n": jwk_int(n.n), "e": jwk_int(n.e)}
        pub = self.ec.public_key().public_numbers()
        keys = [rsa_jwk(self.rsa, "rsa1"),
                {"kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256", "use": "sig",
                 "x": b64url(pub.x.to_bytes(32, "big")), "y": b64url(pub.y.to_bytes(32, "big"))},
                {"kty": "OKP", "crv": "Ed25519", "kid": "skipped", "x": b64url(b"\0" * 32)}]
        if self.publish_rotated:
            keys.append(rsa_jwk(self.rotated, "rsa2"))
        return {"keys": keys}

    def rsa_public_pem(self):
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def close(self):
        self.httpd.shutdown()


def claims(**over):
    now = int(time.time())
    c = {"iss": IDP, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
         "scope": "read write"}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def unsigned(header, payload, signature=b""):
    return (f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."
            f"{b64url(signature)}")


@pytest.fixture(scope="module")
def idp():
    p = Idp()
    yield p
    p.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, idp):
    d = tmp_path_factory.mktemp("auth")
    secret_file = d / "hs256.secret"
    secret_file.write_text(HS_SECRET + "\n")
    s = Server(d, "--simulate", SYMBOL, "--tick-rate", "20", "--seed", "3",
               "--jwks-url", idp.url, "--jwt-issuer", IDP, "--hs256-secret-file", secret_file,
               "--failed-auth-rate", "1000", "--max-subscriptions", "2", "--jwks-min-refresh", "3",
               "--clock-skew", SKEW_S, auth=True)
    s.dir = d

    def cli(*args):
        r = tickgraph(d, "auth", *args, "--db", s.db)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    s.cli = cli
    s.read_key = cli("key", "add", "reader", "--scopes", "read")["api_key"]
    s.writer_key = cli("key", "add", "writer", "--scopes", "read,write")["api_key"]
    s.admin_key = cli("key", "add", "admin", "--scopes", "read,write,admin")["api_key"]
    yield s
    s.stop()


def token(srv, client_id, secret, **form):
    return requests.post(srv.base + "/oauth2/token", timeout=10,
                         data={"grant_type": "client_credentials", "client_id": client_id,
                               "client_secret": secret, **form})


# --------------------------------------------------------------------------------------------
# The three transports, each answering (status, reason)

def rest(srv, path="/v1/assets", headers=None, method="GET", **kw):
    r = requests.request(method, srv.base + path, headers=headers or {}, timeout=10, **kw)
    reason = r.json().get("details", {}).get("reason") if r.status_code >= 400 else None
    return r.status_code, reason


def query_of(headers):
    """The query form of a credential, as a browser sends it on streams."""
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return {"access_token": auth[7:]}
    if "X-API-Key" in headers:
        return {"api_key": headers["X-API-Key"]}
    return {}


def sse(srv, headers, use_query=False):
    params = {"assets": SYMBOL, "interval": "1m"}
    if use_query:
        params.update(query_of(headers))
        headers = {}
    with requests.get(srv.base + "/v1/stream/sse", params=params, headers=headers, stream=True,
                      timeout=10) as r:
        if r.status_code != 200:
            return r.status_code, json.loads(r.raw.read(65536) or b"{}").get(
                "details", {}).get("reason")
        for line in r.iter_lines():
            if line.startswith(b"data:"):
                message = json.loads(line[5:])
                assert "snapshot" in message, message
                return 200, None
    raise AssertionError("the SSE stream ended without a message")


def ws(srv, headers, use_query=False):
    async def go():
        url = f"ws://127.0.0.1:{srv.port}/v1/stream"
        extra = headers
        if use_query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query_of(headers).items())
            extra = {}
        try:
            conn = await websockets.connect(url, extra_headers=extra, open_timeout=10)
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code, None
        try:
            await conn.send(json.dumps({"subscribe": {"assets": [SYMBOL], "interval": "INTERVAL_1M"}}))
            message = json.loads(await asyncio.wait_for(conn.recv(), 10))
            assert "snapshot" in message, message
            return 101, None
        finally:
            await conn.close()
    return asyncio.run(go())


# --------------------------------------------------------------------------------------------
# The matrix

def bad_tokens(idp):
    """(name, Authorization header value, expected reason): every one must give 401."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = jwt.encode(claims(), idp.rsa, algorithm="RS256", headers={"kid": "rsa1"})
    head, _, sig = good.split(".")
    richer = b64url(json.dumps(claims(scope="read write admin")).encode())
    # HS/RS confusion: an HS256 token whose "secret" is the RSA public key, which is public.
    confusion_input = (b64url(json.dumps({"alg": "HS256", "kid": "rsa1"}).encode()) + "." +
                       b64url(json.dumps(claims()).encode()))
    confusion = confusion_input + "." + b64url(
        hmac.new(idp.rsa_public_pem(), confusion_input.encode(), hashlib.sha256).digest())
    return [
        ("expired", jwt.encode(claims(exp=int(time.time()) - 120), idp.rsa, "RS256",
                               headers={"kid": "rsa1"}), "expired"),
        ("not yet valid", jwt.encode(claims(nbf=int(time.time()) + 600), idp.rsa, "RS256",
                                     headers={"kid": "rsa1"}), "not_yet_valid"),
        ("wrong issuer", jwt.encode(claims(iss="https://evil.example"), idp.rsa, "RS256",
                                    headers={"kid": "rsa1"}), "wrong_issuer"),
        ("wrong audience", jwt.encode(claims(aud="another-api"), idp.rsa, "RS256",
                                      headers={"kid": "rsa1"}), "wrong_audience"),
        ("wrong key", jwt.encode(claims(), other, "RS256", headers={"kid": "rsa1"}),
         "bad_signature"),
        ("unknown kid", jwt.encode(claims(), other, "RS256", headers={"kid": "nobody"}),
         "unknown_key"),
        ("tampered payload", f"{head}.{richer}.{sig}", "bad_signature"),
        ("alg none", unsigned({"alg": "none"}, claims()), "alg_not_allowed"),
        ("HS/RS confusion", confusion, "bad_signature"),
        ("HS256 wrong secret", jwt.encode(claims(), "x" * 40, "HS256"), "bad_signature"),
        ("not a JWT", "abc.def", "malformed_token"),
    ]


def test_every_bad_token_is_401_with_its_reason_on_rest_websocket_and_sse(srv, idp):
    for name, value, reason in bad_tokens(idp):
        headers = {"Authorization": f"Bearer {value}"}
        assert rest(srv, headers=headers) == (401, reason), name
        assert sse(srv, headers) == (401, reason), name
        assert sse(srv, headers, use_query=True) == (401, reason), name
        assert ws(srv, headers)[0] == 401, name
        assert ws(srv, headers, use_query=True)[0] == 401, name
    # No credential at all, and one in the query string of a REST route (only streams take it).
    assert rest(srv) == (401, "missing_credentials")
    assert rest(srv, params={"api_key": srv.read_key}) == (401, "missing_credentials")
    assert sse(srv, {}) == (401, "missing_credentials")
    assert ws(srv, {})[0] == 401
    # Two credentials at once are refused (RFC 6750 §2).
    both = {"X-API-Key": srv.read_key,
            "Authorization": "Bearer " + jwt.encode(claims(), HS_SECRET, "HS256")}
    assert rest(srv, headers=both) == (401, "ambiguous_credentials")


def test_valid_tokens_of_each_algorithm_work_on_every_transport(srv, idp):
    """RS256, ES256 and HS256 tokens, one whose aud is a list holding ours, and one already past
    its exp but inside the --clock-skew allowance work on REST, SSE (header and query) and the
    WebSocket (header and query); a token past exp by more than the allowance is refused."""
    # Each token is made just before the request that uses it: a time-sensitive one made up front
    # would age by every request before it. The skewed one is at least 1 s past its exp (so
    # expired without the allowance) and at most 2 s, leaving 3 s of the 5 s allowance for one
    # request to arrive.
    makers = {
        "RS256": lambda: jwt.encode(claims(), idp.rsa, "RS256", headers={"kid": "rsa1"}),
        "ES256": lambda: jwt.encode(claims(), idp.ec, "ES256", headers={"kid": "ec1"}),
        "HS256": lambda: jwt.encode(claims(), HS_SECRET, "HS256"),
        "RS256 skewed": lambda: jwt.encode(claims(exp=int(time.time()) - 1), idp.rsa, "RS256",
                                           headers={"kid": "rsa1"}),
        "aud list": lambda: jwt.encode(claims(aud=["other", AUDIENCE]), idp.ec, "ES256",
                                       headers={"kid": "ec1"}),
    }
    for name, make in makers.items():
        def headers():
            return {"Authorization": f"Bearer {make()}"}
        assert rest(srv, headers=headers()) == (200, None), name
        assert sse(srv, headers()) == (200, None), name
        assert sse(srv, headers(), use_query=True) == (200, None), name
        assert ws(srv, headers()) == (101, None), name
        assert ws(srv, headers(), use_query=True) == (101, None), name
    # Past the allowance (at least SKEW_S + 2 s past exp, and only more so later): refused.
    beyond = jwt.encode(claims(exp=int(time.time()) - SKEW_S - 2), idp.rsa, "RS256",
                        headers={"kid": "rsa1"})
    assert rest(srv, headers={"Authorization": f"Bearer {beyond}"}) == (401, "expired")


def test_a_new_kid_refetches_the_jwks(srv, idp):
    rotated = jwt.encode(claims(), idp.rotated, "RS256", headers={"kid": "rsa2"})
    headers = {"Authorization": f"Bearer {rotated}"}
    # Not published yet: refused (and the set is refetched at most every --jwks-min-refresh, 3 s
    # here, so a flood of made-up kids cannot turn into a flood of fetches).
    before = idp.fetches
    for _ in range(20):
        assert rest(srv, headers=headers) == (401, "unknown_key")
    assert idp.fetches - before <= 1
    idp.publish_rotated = True
    # The server refetches on an unknown kid once 3 s have passed since the last fetch.
    deadline = time.time() + 15
    while rest(srv, headers=headers)[0] != 200:
        assert time.time() < deadline, "the rotated key was never fetched"
        time.sleep(1)
    assert rest(srv, headers=headers) == (200, None)


def test_missing_scope_is_403_naming_the_scope(srv, idp):
    read_only = {"Authorization": "Bearer " + jwt.encode(claims(scope="read"), idp.rsa, "RS256",
                                                         headers={"kid": "rsa1"})}
    r = requests.post(srv.base + "/v1/ticks", json={"ticks": []}, headers=read_only, timeout=10)
    assert r.status_code == 403
    assert r.json()["details"] == {"reason": "insufficient_scope", "scope": "write"}
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    no_scope = {"Authorization": "Bearer " + jwt.encode(claims(scope=None), idp.rsa, "RS256",
                                                        headers={"kid": "rsa1"})}
    assert rest(srv, headers=no_scope) == (403, "insufficient_scope")
    assert sse(srv, no_scope) == (403, "insufficient_scope")
    assert ws(srv, no_scope)[0] == 403
    reader = {"X-API-Key": srv.read_key}
    assert rest(srv, "/v1/auth/keys", headers=reader) == (403, "insufficient_scope")
    assert rest(srv, "/v1/graphs/demo", headers=reader, method="DELETE") == (403,
                                                                             "insufficient_scope")
    assert rest(srv, "/v1/graphs/demo", headers=reader) == (200, None)


def wait_until_refused(srv, headers, revoked_at, what):
    """Polls GET /v1/assets with `headers` until it is refused; a request sent later than the
    revocation promise plus the margin after `revoked_at` (time.monotonic() when the revoke
    command returned) must not be answered 200."""
    deadline = revoked_at + REVOCATION_PROMISE_S + MARGIN_S
    while True:
        sent = time.monotonic()
        if rest(srv, headers=headers)[0] != 200:
            return
        assert sent < deadline, \
            f"{what} still works {sent - revoked_at:.1f} s after its revocation (promise: " \
            f"{REVOCATION_PROMISE_S} s, margin {MARGIN_S} s)"
        time.sleep(0.1)


def test_api_keys_bad_and_revoked(srv):
    """A good API key works on every transport; a wrong, unknown or malformed one is 401
    bad_api_key; a key revoked by another process (the CLI) is refused as revoked within the
    README's 2 s (plus a 1 s margin), and `key list` shows it revoked, never its secret."""
    good = {"X-API-Key": srv.read_key}
    assert rest(srv, headers=good) == (200, None)
    assert sse(srv, good, use_query=True) == (200, None)
    assert ws(srv, good, use_query=True) == (101, None)
    wrong = srv.read_key[:-4] + ("AAAA" if not srv.read_key.endswith("AAAA") else "BBBB")
    for value, reason in [(wrong, "bad_api_key"), ("tgk_0000000000000000_x", "bad_api_key"),
                          ("not-a-key", "bad_api_key")]:
        assert rest(srv, headers={"X-API-Key": value}) == (401, reason)
        assert sse(srv, {"X-API-Key": value}) == (401, reason)
        assert ws(srv, {"X-API-Key": value})[0] == 401
    doomed = srv.cli("key", "add", "doomed", "--scopes", "read")
    headers = {"X-API-Key": doomed["api_key"]}
    assert rest(srv, headers=headers) == (200, None)
    srv.cli("key", "revoke", doomed["key_id"])
    # Another process revoked it: the server sees it within its 2 s credential cache.
    wait_until_refused(srv, headers, time.monotonic(), "the revoked key")
    assert rest(srv, headers=headers) == (401, "revoked")
    assert sse(srv, headers) == (401, "revoked")
    assert ws(srv, headers)[0] == 401
    listed = tickgraph(srv.dir, "auth", "key", "list", "--db", srv.db).stdout
    assert doomed["key_id"] in listed and "revoked" in listed
    assert key_secret(doomed["api_key"]) not in listed, "a secret must never be listed"


def test_token_endpoint_issues_tokens_that_verify_against_its_jwks(srv):
    """The token endpoint issues ES256 tokens (client id and secret in the form or by HTTP Basic,
    narrower scopes on request) that PyJWT verifies against /.well-known/jwks.json and that the
    server accepts; its errors are RFC 6749's; a client revoked by the CLI gets no new token and
    its tokens are refused within the README's 2 s (plus a 1 s margin)."""
    client = srv.cli("client", "add", "svc", "--scopes", "read,write")
    r = token(srv, client["client_id"], client["client_secret"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "read write"
    assert r.headers["Cache-Control"] == "no-store"
    # An outside verifier (PyJWT) checks the token with the published key.
    jwks = requests.get(srv.base + "/.well-known/jwks.json", timeout=10).json()
    assert len(jwks["keys"]) == 1 and "d" not in jwks["keys"][0]
    key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwks["keys"][0]))
    decoded = jwt.decode(body["access_token"], key, algorithms=["ES256"], audience=AUDIENCE,
                         issuer="tickgraph")
    assert decoded["sub"] == client["client_id"] and decoded["exp"] - decoded["iat"] == 3600
    headers = {"Authorization": "Bearer " + body["access_token"]}
    assert rest(srv, headers=headers) == (200, None)
    assert ws(srv, headers, use_query=True) == (101, None)

    # HTTP Basic works too, and a narrower scope gives a narrower token.
    r = requests.post(srv.base + "/oauth2/token", data={"grant_type": "client_credentials",
                                                        "scope": "read"},
                      auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert r.status_code == 200 and r.json()["scope"] == "read"
    narrow = {"Authorization": "Bearer " + r.json()["access_token"]}
    assert rest(srv, "/v1/ticks", headers=narrow, method="POST", json={"ticks": []}) == (
        403, "insufficient_scope")

    # RFC 6749 §5.2 errors; the Basic challenge only answers Basic.
    assert token(srv, client["client_id"], "wrong").status_code == 401
    assert "WWW-Authenticate" not in token(srv, client["client_id"], "wrong").headers
    r = requests.post(srv.base + "/oauth2/token", data={"grant_type": "client_credentials"},
                      auth=(client["client_id"], "wrong"), timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert token(srv, client["client_id"], "wrong").json()["error"] == "invalid_client"
    assert token(srv, "tgc_nobody", "x").json()["error"] == "invalid_client"
    assert token(srv, client["client_id"], client["client_secret"],
                 scope="admin").json()["error"] == "invalid_scope"
    r = requests.post(srv.base + "/oauth2/token", data={"grant_type": "password"}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = requests.post(srv.base + "/oauth2/token", json={"grant_type": "client_credentials"},
                      timeout=10)
    assert r.status_code == 415

    # A revoked client gets no new token, and its tokens stop working.
    srv.cli("client", "revoke", client["client_id"])
    wait_until_refused(srv, headers, time.monotonic(), "the revoked client's token")
    assert rest(srv, headers=headers) == (401, "revoked")
    assert sse(srv, headers) == (401, "revoked")
    assert ws(srv, headers)[0] == 401
    assert token(srv, client["client_id"], client["client_secret"]).status_code == 401


def test_admin_routes_create_list_and_revoke(srv):
    admin = {"X-API-Key": srv.admin_key}
    r = requests.post(srv.base + "/v1/auth/keys", json={"name": "made", "scopes": ["read"]},
                      headers=admin, timeout=10)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["credential"]["scopes"] == ["read"] and made["secret"].startswith("tgk_")
    assert rest(srv, headers={"X-API-Key": made["secret"]}) == (200, None)
    listed = requests.get(srv.base + "/v1/auth/keys", headers=admin, timeout=10).json()
    ids = [c["id"] for c in listed["credentials"]]
    assert made["credential"]["id"] in ids
    assert all("secret" not in json.dumps(c).lower() for c in listed["credentials"])
    r = requests.delete(srv.base + f"/v1/auth/keys/{made['credential']['id']}", headers=admin,
                        timeout=10)
    assert r.status_code == 204
    # Revoked in this process: at once.
    assert rest(srv, headers={"X-API-Key": made["secret"]}) == (401, "revoked")
    assert rest(srv, "/v1/auth/keys/tgk_nothing", headers=admin, method="DELETE")[0] == 404
    r = requests.post(srv.base + "/v1/auth/clients", json={"name": "x", "scopes": ["root"]},
                      headers=admin, timeout=10)
    assert r.status_code == 400 and "root" in r.json()["message"]


def test_failures_are_logged_without_secrets_and_counted(srv, idp):
    expired = jwt.encode(claims(exp=int(time.time()) - 300), idp.rsa, "RS256",
                         headers={"kid": "rsa1"})
    before = parse_prometheus(requests.get(srv.base + "/metrics", timeout=10).text)
    assert rest(srv, headers={"Authorization": "Bearer " + expired}) == (401, "expired")
    assert rest(srv, headers={"X-API-Key": srv.read_key + "x"}) == (401, "bad_api_key")
    after = parse_prometheus(requests.get(srv.base + "/metrics", timeout=10).text)
    for reason in ("expired", "bad_api_key"):
        assert (metric(after, "tickgraph_auth_failures_total", reason=reason) -
                metric(before, "tickgraph_auth_failures_total", reason=reason)) >= 1
    log = srv.stderr()
    assert "auth: 401 GET /v1/assets from 127.0.0.1: expired" in log
    assert "auth: 401 GET /v1/assets from 127.0.0.1: bad_api_key" in log
    for secret in (expired, expired.split(".")[2], key_secret(srv.read_key), HS_SECRET,
                   key_secret(srv.admin_key)):
        assert secret not in log, "a secret reached the log"


def open_stream_closes_when(srv, headers, act, limit=20):
    """Opens a WebSocket stream with `headers`, subscribes, runs `act()`, then returns the close
    code and reason the server ends the stream with, the wall-clock time (time.time()) when `act`
    returned and when the close arrived; fails if the stream is still open `limit` s later."""
    async def go():
        conn = await websockets.connect(f"ws://127.0.0.1:{srv.port}/v1/stream",
                                        extra_headers=headers)
        await conn.send(json.dumps({"subscribe": {"assets": [SYMBOL], "interval": "INTERVAL_1S"}}))
        assert "snapshot" in json.loads(await asyncio.wait_for(conn.recv(), 10))
        await asyncio.to_thread(act)
        acted = time.time()
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(conn.recv(), deadline - time.monotonic())
        except websockets.exceptions.ConnectionClosed as e:
            return e.code, e.reason, acted, time.time()
        except asyncio.TimeoutError:
            pass
        raise AssertionError(f"the stream stayed open {limit} s")
    return asyncio.run(go())


def test_open_streams_close_when_their_credential_is_revoked_or_expires(srv, idp):
    """A stream opened with an API key that another process revokes is closed (1008, "the
    credential was revoked") within the README's 2 s for the revocation plus 1 s for the stream
    (plus a 1 s margin) of the revoke command's return; a stream opened with a token is closed
    (1008, "…expired…") once exp plus the clock-skew allowance has passed, not before, and
    within a second (plus the margin) after it."""
    doomed = srv.cli("key", "add", "streamer", "--scopes", "read")
    code, reason, revoked, closed = open_stream_closes_when(
        srv, {"X-API-Key": doomed["api_key"]}, lambda: srv.cli("key", "revoke", doomed["key_id"]))
    assert (code, reason) == (1008, "the credential was revoked")
    promise = REVOCATION_PROMISE_S + STREAM_CLOSE_PROMISE_S
    assert closed - revoked < promise + MARGIN_S, \
        f"closed {closed - revoked:.1f} s after the revocation (promise {promise} s, margin " \
        f"{MARGIN_S} s)"
    # A token that expires 2 s from now; with the allowance it is valid until exp + SKEW_S.
    exp = int(time.time()) + 2
    short = jwt.encode(claims(exp=exp), idp.ec, "ES256", headers={"kid": "ec1"})
    code, reason, _, closed = open_stream_closes_when(srv, {"Authorization": "Bearer " + short},
                                                      lambda: None)
    assert code == 1008 and "expired" in reason, (code, reason)
    expired = exp + SKEW_S
    assert closed >= expired, f"closed {expired - closed:.1f} s before the token expired"
    assert closed - expired < STREAM_CLOSE_PROMISE_S + MARGIN_S, \
        f"closed {closed - expired:.1f} s after the token expired (promise " \
        f"{STREAM_CLOSE_PROMISE_S} s, margin {MARGIN_S} s)"


def test_subscriptions_per_connection_are_limited(srv):
    async def go():
        conn = await websockets.connect(f"ws://127.0.0.1:{srv.port}/v1/stream",
                                        extra_headers={"X-API-Key": srv.read_key})
        try:
            await conn.send(json.dumps({"subscribe": {"assets": [SYMBOL],
                                                      "interval": "INTERVAL_1M"}}))
            assert "snapshot" in json.loads(await asyncio.wait_for(conn.recv(), 10))
            await conn.send(json.dumps({"subscribe": {"assets": [SYMBOL],
                                                      "interval": "INTERVAL_5M"}}))
            assert "snapshot" in json.loads(await asyncio.wait_for(conn.recv(), 10))
            await conn.send(json.dumps({"subscribe": {"assets": [SYMBOL],
                                                      "interval": "INTERVAL_1H"}}))
            while True:  # updates of the first two may come first
                m = json.loads(await asyncio.wait_for(conn.recv(), 10))
                if "error" in m:
                    return m["error"]
                assert "snapshot" not in m, "a third subscription was accepted"
        finally:
            await conn.close()
    error = asyncio.run(go())
    assert error["code"] == "resource_exhausted" and "at most 2" in error["message"], error


# --------------------------------------------------------------------------------------------
# Servers of their own: limits and start-up rules

def spend_until_429(url, headers, limit=10):
    """GETs `url` until a 429 (at most `limit` requests): the responses, the time.monotonic() at
    which each was sent, and the seconds from the first send to the last answer."""
    responses, sent = [], []
    while len(responses) < limit and (not responses or responses[-1].status_code != 429):
        sent.append(time.monotonic())
        responses.append(requests.get(url, headers=headers, timeout=10))
    return responses, sent, time.monotonic() - sent[0]


def test_rate_limit_gives_429_with_retry_after(tmp_path):
    """A credential's token bucket (--rate-limit 0.2/s, --rate-burst 3) lets exactly the burst
    through, plus what refilled meanwhile (counted from the measured time, so a slow machine
    cannot make it fail), then answers 429 rate_limited with a Retry-After within a token's
    refill time, after which a request passes again; public routes are never limited."""
    rate, burst = 0.2, 3  # a token every 5 s: 4 requests need 5 s to earn a fourth
    s = Server(tmp_path, "--no-simulate", "--rate-limit", rate, "--rate-burst", burst, auth=True)
    try:
        key = tickgraph(tmp_path, "auth", "key", "add", "k", "--scopes", "read", "--db",
                        s.db).stdout.split("api_key=")[1].strip()
        headers = {"X-API-Key": key}
        responses, _, elapsed = spend_until_429(s.base + "/v1/assets", headers)
        codes = [r.status_code for r in responses]
        allowed = burst + math.floor(rate * elapsed)  # the bucket starts full
        assert codes[-1] == 429, f"no 429 in {codes} ({elapsed:.1f} s)"
        assert codes[:-1] == [200] * (len(codes) - 1), codes
        assert burst <= codes.count(200) <= allowed, (codes, elapsed)
        limited = responses[-1]
        assert limited.json()["details"]["reason"] == "rate_limited"
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= math.ceil(1 / rate), wait
        time.sleep(wait)  # a token has refilled by then, however slow the machine
        assert requests.get(s.base + "/v1/assets", headers=headers, timeout=10).status_code == 200
        # Public routes are not counted against anyone.
        for _ in range(10):
            assert requests.get(s.base + "/healthz", timeout=10).status_code == 200
    finally:
        s.stop()


def test_failed_authentications_are_slowed_per_address(tmp_path):
    """Failed authentications from one address spend its budget (--failed-auth-rate 1/s, burst 4
    times that): the burst of bad keys is answered 401 (plus what refilled meanwhile, counted
    from the measured time), then 429 with Retry-After; while the budget is empty even a right
    key is 429, so a right guess looks like a wrong one; after Retry-After it works."""
    rate = 1.0
    burst = 4 * rate  # the README: "burst 4 times that"
    s = Server(tmp_path, "--no-simulate", "--failed-auth-rate", rate, auth=True)
    try:
        key = tickgraph(tmp_path, "auth", "key", "add", "k", "--scopes", "read", "--db",
                        s.db).stdout.split("api_key=")[1].strip()
        responses, sent, elapsed = spend_until_429(s.base + "/v1/assets",
                                                   {"X-API-Key": "tgk_bad"}, limit=20)
        codes = [r.status_code for r in responses]
        assert codes[-1] == 429 and codes[:-1] == [401] * (len(codes) - 1), (codes, elapsed)
        assert burst <= codes.count(401) <= burst + math.floor(rate * elapsed), (codes, elapsed)
        # Once the budget is spent even a right key gets 429, so guessing learns nothing. The
        # last 401 spent a token; what refills after it is rate * (time since), so when this
        # answer comes less than 1 / rate s after that 401 was sent, no whole token can be there
        # (measured, not assumed: on a machine too slow for that, only the refill is checked).
        right = requests.get(s.base + "/v1/assets", headers={"X-API-Key": key}, timeout=10)
        if rate * (time.monotonic() - sent[-2]) < 1:
            assert right.status_code == 429, right.status_code
        # ...until it refills.
        time.sleep(int(responses[-1].headers["Retry-After"]))
        assert requests.get(s.base + "/v1/assets", headers={"X-API-Key": key},
                            timeout=10).status_code == 200
    finally:
        s.stop()


def config_server(directory, config, *flags):
    """`serve --config CONFIG --port 0 --db sqlite:DIR/db.sqlite --no-simulate FLAGS…` (auth as
    the file and the flags say; the harness adds nothing)."""
    return Server(directory, "--config", config, "--port", "0", "--db",
                  f"sqlite:{directory / 'db.sqlite'}", "--no-simulate", *flags, exact=True)


def config_checks(s, idp, issuer, audience, jwt_issuer, secret, burst, rate):
    """Checks a server started with auth on against the settings it should have taken."""
    assert rest(s) == (401, "missing_credentials")
    # The token endpoint's tokens carry `issuer` and `audience`, as PyJWT reads them.
    client = dict(line.split("=", 1) for line in tickgraph(
        s.directory, "auth", "client", "add", "svc", "--scopes", "read", "--db",
        s.db).stdout.splitlines() if "=" in line)
    r = token(s, client["client_id"], client["client_secret"])
    assert r.status_code == 200, r.text
    jwks = requests.get(s.base + "/.well-known/jwks.json", timeout=10).json()
    key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwks["keys"][0]))
    jwt.decode(r.json()["access_token"], key, algorithms=["ES256"], audience=audience,
               issuer=issuer)  # raises if either differs
    assert rest(s, headers={"Authorization": "Bearer " + r.json()["access_token"]}) == (200, None)
    # Only tokens for `audience`, from the `jwks_url` provider with iss `jwt_issuer`, or signed
    # with the HS256 secret of the secret file. (Each its own subject: its own rate limit.)
    def bearer(value):
        return {"Authorization": "Bearer " + value}
    ext = {"iss": jwt_issuer, "aud": audience}
    assert rest(s, headers=bearer(jwt.encode(claims(**ext, sub="r1"), idp.rsa, "RS256",
                                             headers={"kid": "rsa1"}))) == (200, None)
    assert rest(s, headers=bearer(jwt.encode(claims(**dict(ext, iss=IDP + "/other"), sub="r2"),
                                             idp.rsa, "RS256", headers={"kid": "rsa1"}))) == \
        (401, "wrong_issuer")
    assert rest(s, headers=bearer(jwt.encode(claims(**ext, sub="h1"), secret, "HS256"))) == \
        (200, None)
    assert rest(s, headers=bearer(jwt.encode(claims(**dict(ext, aud=AUDIENCE), sub="h2"),
                                             secret, "HS256"))) == (401, "wrong_audience")
    # `rate_limit` and `rate_burst`: the burst, plus what refilled in the measured time.
    key = tickgraph(s.directory, "auth", "key", "add", "k", "--scopes", "read", "--db",
                    s.db).stdout.split("api_key=")[1].strip()
    responses, _, elapsed = spend_until_429(s.base + "/v1/assets", {"X-API-Key": key})
    codes = [r.status_code for r in responses]
    assert codes[-1] == 429 and burst <= codes.count(200) <= burst + math.floor(rate * elapsed), \
        (codes, elapsed)


def test_config_file_auth_keys_take_effect_and_flags_win(tmp_path, idp):
    """The auth keys of a --config file take effect: `auth: on` refuses a request without a
    credential; the token endpoint's tokens carry `issuer` and `audience`; only tokens for
    `audience` are accepted; tokens of the `jwks_url` provider need iss = `jwt_issuer`; an HS256
    token signed with the secret in `hs256_secret_file` is accepted; `rate_limit` and
    `rate_burst` limit an API key. The same settings given as flags win over the file (another
    provider, issuer, audience, secret and burst), and --auth off wins over `auth: on`."""
    other_idp = Idp()  # the flags' provider: other keys under the same kid
    servers = []
    try:
        secrets = {}
        for name in ("config", "flag"):
            secrets[name] = f"the {name}'s HS256 secret, at least 32 bytes long"
            (tmp_path / f"{name}.secret").write_text(secrets[name] + "\n")
        rate = 0.2  # a token every 5 s: only the burst passes in a test's few requests
        config = tmp_path / "auth.yaml"
        config.write_text(f"auth: on\nissuer: cfg-issuer\naudience: cfg-aud\n"
                          f"jwks_url: {idp.url}\njwt_issuer: https://cfg-idp.example.test\n"
                          f"hs256_secret_file: {tmp_path / 'config.secret'}\n"
                          f"rate_limit: {rate}\nrate_burst: 2\n")
        s = config_server(tmp_path / "config", config)
        servers.append(s)
        config_checks(s, idp, "cfg-issuer", "cfg-aud", "https://cfg-idp.example.test",
                      secrets["config"], burst=2, rate=rate)
        f = config_server(tmp_path / "flags", config, "--issuer", "flag-issuer", "--audience",
                          "flag-aud", "--jwks-url", other_idp.url, "--jwt-issuer",
                          "https://flag-idp.example.test", "--hs256-secret-file",
                          tmp_path / "flag.secret", "--rate-limit", rate, "--rate-burst", 3)
        servers.append(f)
        config_checks(f, other_idp, "flag-issuer", "flag-aud", "https://flag-idp.example.test",
                      secrets["flag"], burst=3, rate=rate)
        # The config's provider, issuer and secret are not taken by the flags' server.
        cfg_token = jwt.encode(claims(iss="https://cfg-idp.example.test", aud="flag-aud"),
                               idp.rsa, "RS256", headers={"kid": "rsa1"})
        assert rest(f, headers={"Authorization": "Bearer " + cfg_token}) == (401, "bad_signature")
        hs = jwt.encode(claims(iss="x", aud="flag-aud", sub="h3"), secrets["config"], "HS256")
        assert rest(f, headers={"Authorization": "Bearer " + hs}) == (401, "bad_signature")
        off = config_server(tmp_path / "off", config, "--auth", "off")
        servers.append(off)
        assert rest(off) == (200, None)
    finally:
        for server in servers:
            server.stop()
        other_idp.close()


def test_cli_refuses_bad_scopes_and_unknown_ids(tmp_path):
    db = f"sqlite:{tmp_path / 'db.sqlite'}"
    r = tickgraph_fail(tmp_path, "auth", "key", "add", "x", "--scopes", "read,root", "--db", db)
    assert r.returncode == 1 and "unknown scope 'root'" in r.stderr
    r = tickgraph_fail(tmp_path, "auth", "client", "revoke", "tgc_nope", "--db", db)
    assert r.returncode == 1 and "no client with id 'tgc_nope'" in r.stderr
    r = tickgraph_fail(tmp_path, "auth", "key", "add", "x", "--db", db)
    assert r.returncode == 2 and "--scopes" in r.stderr
    listed = tickgraph(tmp_path, "auth", "client", "list", "--db", db).stdout
    assert listed.splitlines() == ["id\tname\tscopes\tcreated\tstatus"], "nothing was added"


def test_auth_off_only_on_loopback_and_said_at_start(tmp_path):
    r = tickgraph_fail(tmp_path, "serve", "--auth", "off", "--bind", "0.0.0.0", "--port", "0",
                       "--no-simulate", "--db", f"sqlite:{tmp_path / 'db.sqlite'}")
    assert r.returncode == 1
    assert "--auth off is only allowed on a loopback address" in r.stderr
    s = Server(tmp_path / "loop", "--no-simulate")  # the harness passes --auth off
    try:
        assert "auth is OFF" in s.stderr()
        assert requests.get(s.base + "/v1/assets", timeout=10).status_code == 200
    finally:
        s.stop()


def test_slow_requests_are_cut_off(tmp_path):
    s = Server(tmp_path, "--no-simulate", "--request-timeout", "2", auth=True)
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(b"GET /v1/assets HTTP/1.1\r\nHost: x\r\n")  # and never the end
            started = time.time()
            assert sock.recv(4096) == b"", "the server answered an unfinished request"
            assert time.time() - started < 5
        big = "x" * (64 * 1024)
        r = requests.get(s.base + "/healthz", headers={"X-Big": big}, timeout=10)
        assert r.status_code == 431
    finally:
        s.stop()


def tickgraph_fail(directory, *args):
    import subprocess
    from server_harness import isolated_env
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=isolated_env(directory))
