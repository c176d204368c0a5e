"""Structured logs of `tickgraph serve` and `tickgraph ingest` (the real binary): --log-format json
gives one JSON object a line with ts, level, msg and the event's fields, never a secret;
--log-level filters; the text form keeps the lines people and scripts read; a bad option value is
a usage error (exit 2) naming the option."""

import datetime
import json
import subprocess

import requests

from server_harness import BIN, Server, isolated_env, tickgraph

EXIT_USAGE = 2


def json_lines(text):
    """Every line of `text` parsed as a JSON object (fails on a line that is not one)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"a log line is not JSON ({e}): {line!r}") from None
        assert isinstance(value, dict), line
        out.append(value)
    return out


def api_key(directory, scopes="read"):
    r = tickgraph(directory, "auth", "key", "add", "logs", "--scopes", scopes, "--db",
                  f"sqlite:{directory / 'db.sqlite'}")
    return dict(line.split("=", 1) for line in r.stdout.split())["api_key"]


def test_json_logs_are_one_object_a_line_with_fields_and_no_secret(tmp_path):
    """An auth refusal is logged as JSON with ts (UTC, microseconds), level, msg and its fields
    (status, method, route, reason, remote); the API key sent is in no line."""
    key = api_key(tmp_path)
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    srv = Server(tmp_path, "--no-simulate", "--log-format", "json", auth=True)
    try:
        r = requests.get(f"{srv.base}/v1/assets", headers={"X-API-Key": wrong}, timeout=10)
        assert r.status_code == 401, r.text
        assert requests.get(f"{srv.base}/v1/assets", headers={"X-API-Key": key},
                            timeout=10).status_code == 200
    finally:
        srv.stop()
    lines = json_lines(srv.stderr())
    assert lines, "no log lines"
    for line in lines:
        assert {"ts", "level", "msg"} <= line.keys(), line
        assert line["level"] in {"debug", "info", "warn", "error"}, line
        ts = datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs((datetime.datetime.utcnow() - ts).total_seconds()) < 300, line["ts"]
    refusals = [line for line in lines if line["msg"].startswith("auth: 401 GET /v1/assets")]
    assert len(refusals) == 1, lines
    refusal = refusals[0]
    assert refusal["level"] == "warn", refusal
    assert refusal["status"] == 401 and refusal["method"] == "GET", refusal
    assert refusal["route"] == "/v1/assets" and refusal["reason"] == "bad_api_key", refusal
    assert refusal["remote"] == "127.0.0.1", refusal
    assert key.startswith("tgk_") and key[20] == "_", key  # "tgk_<16 hex>_<secret>"
    secret = key[21:]
    for text in (srv.stderr(), "\n".join(srv.lines)):
        assert key not in text and wrong not in text, "an API key was logged"
        assert secret not in text, "an API key's secret part was logged"


def test_text_logs_keep_the_lines_people_read_and_the_level_filters(tmp_path):
    """In text form a refusal is `tickgraph: auth: 401 GET /v1/assets from 127.0.0.1:
    bad_api_key`; with --log-level error it is not written, and the address line on stdout is
    the same either way."""
    srv = Server(tmp_path / "info", "--no-simulate", auth=True)
    try:
        requests.get(f"{srv.base}/v1/assets", headers={"X-API-Key": "tgk_nope"}, timeout=10)
    finally:
        srv.stop()
    assert "tickgraph: auth: 401 GET /v1/assets from 127.0.0.1: bad_api_key" in \
        srv.stderr().splitlines(), srv.stderr()
    assert any(line.startswith("tickgraph: serving http://127.0.0.1:") for line in srv.lines)

    quiet = Server(tmp_path / "error", "--no-simulate", "--log-level", "error", auth=True)
    try:
        requests.get(f"{quiet.base}/v1/assets", headers={"X-API-Key": "tgk_nope"}, timeout=10)
    finally:
        quiet.stop()
    assert "auth: 401" not in quiet.stderr(), quiet.stderr()
    assert any(line.startswith("tickgraph: serving http://127.0.0.1:") for line in quiet.lines)


def test_bad_log_options_are_usage_errors_naming_the_option(tmp_path):
    """--log-format xml and --log-level loud exit 2 on serve and on ingest, naming the option
    and the value, before anything starts."""
    cases = [
        ["serve", "--port", "0", "--log-format", "xml"],
        ["serve", "--port", "0", "--log-level", "loud"],
        ["ingest", "kafka", "--brokers", "127.0.0.1:1", "--topic", "t", "--log-format", "xml"],
        ["ingest", "nats", "--servers", "nats://127.0.0.1:1", "--log-level", "loud"],
    ]
    for args in cases:
        r = subprocess.run([str(BIN), *args, "--db", f"sqlite:{tmp_path / 'db.sqlite'}"],
                           capture_output=True, text=True, timeout=60,
                           env=isolated_env(tmp_path))
        option = "--log-format" if "--log-format" in args else "--log-level"
        value = args[args.index(option) + 1]
        assert r.returncode == EXIT_USAGE, (args, r.returncode, r.stderr)
        assert option in r.stderr and value in r.stderr, (args, r.stderr)
