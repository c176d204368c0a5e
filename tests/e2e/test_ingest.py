"""End-to-end tests of the ingest workers: `tickgraph ingest kafka` against librdkafka's mock
cluster (the kafka_mock tool) and `tickgraph ingest nats` against a real nats-server with
JetStream, storing into SQLite files in pytest's tmp_path; and the scale-out bus, where a worker
publishes its updates on NATS and a `serve --no-engine` node relays them to stream clients.

Oracles are external: the ticks the test produced (stored exactly once each), candles aggregated
from them in Python (open = first, high, low, close = last, volume = sum, a bar stamped with
floor(time / interval), a weekly bar with the Monday 00:00 UTC that Python's calendar gives),
the SQLite file read with Python's sqlite3, the pull endpoint
GET /v1/assets/{symbol}/analytics for the values the worker pushed (push equals pull), and the
dead-letter topic or subject read back with the test's own clients. Waits poll with deadlines;
no sleep is an assertion. Ticks are stamped at fixed times in the past (feeds.TICKS_START_NS, a
Sunday evening: the data crosses a Monday 00:00 UTC), never from the wall clock's date, so a run
is the same on any day at any hour.

Run with Debian's interpreter (pytest, requests, websockets, python3-confluent-kafka,
python3-protobuf), about 90 s on two cores:
    TICKGRAPH_BIN=build/bin/tickgraph TICKGRAPH_KAFKA_MOCK=build/bin/kafka_mock \\
        /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e/test_ingest.py
"""

import asyncio
import collections
import json
import math
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import websockets

import feeds
from feeds import MockKafka, NatsServer, NatsSubscriber, wait_for
from server_harness import (BIN, REPO, Api, Server, contract, documented_metrics, isolated_env,
                            metric, parse_prometheus, undocumented_differences)

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3
SECOND = 10**9
INTERVALS = {"1s": SECOND, "1m": 60 * SECOND, "5m": 300 * SECOND, "15m": 900 * SECOND,
             "1h": 3600 * SECOND, "4h": 4 * 3600 * SECOND, "1d": 86400 * SECOND,
             "1w": 7 * 86400 * SECOND}

CHAIN = (REPO / "examples" / "chain.yaml").read_text()  # the 8-node chain, 12 outputs
CHAIN_OUTPUTS = ["sma20", "sma50", "ema12", "ema26", "ema200", "rsi14", "bb20.upper",
                 "bb20.middle", "bb20.lower", "bb50.upper", "bb50.middle", "bb50.lower"]

# Members that die without leaving are noticed after about 1.5 x session.timeout.ms by the mock.
FAST_GROUP = ["--kafka-config", "session.timeout.ms=3000",
              "--kafka-config", "heartbeat.interval.ms=300"]


# --------------------------------------------------------------------------------------------
# The binary


def run_tickgraph(directory, *args, timeout=60):
    """A one-shot command in the isolated environment: the CompletedProcess (any exit code)."""
    assert BIN.is_file(), f"tickgraph binary not found at {BIN}; build it or set TICKGRAPH_BIN"
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=isolated_env(directory))


def put_graph(directory, db, name="chain", spec=CHAIN):
    path = Path(directory) / f"{name}.yaml"
    path.write_text(spec)
    r = run_tickgraph(directory, "graph", "put", name, path, "--db", db)
    assert r.returncode == EXIT_OK, r.stderr


def add_assets(directory, db, names):
    """Creates assets through the product (one daily bar of 2000 imported for each), for
    workers that run without --auto-create."""
    csv_file = Path(directory) / "one-bar.csv"
    csv_file.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                        "2000-01-03,10,11,9,10.5,10.5,100\n")
    for name in names:
        r = run_tickgraph(directory, "import", "csv", csv_file, "--symbol", name,
                          "--interval", "1d", "--db", db)
        assert r.returncode == EXIT_OK, r.stderr


class Worker:
    """`tickgraph ingest SOURCE ARGS --db DB --metrics-port P`, running until stop() or kill().
    Ready once it printed its "ingesting" line (the source is open)."""

    def __init__(self, directory, source, *args, db, metrics=True, name="worker"):
        assert BIN.is_file(), f"tickgraph binary not found at {BIN}; build it or set TICKGRAPH_BIN"
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.metrics_port = feeds.free_port() if metrics else None
        self.stderr_path = self.directory / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.lines = []
        self._ready = threading.Event()
        command = [str(BIN), "ingest", source, *map(str, args), "--db", db]
        if metrics:
            command += ["--metrics-port", str(self.metrics_port), "--metrics-bind", "127.0.0.1"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, env=isolated_env(self.directory))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(30) or not self.ready_line():
            self.kill()
            raise AssertionError(f"the worker did not start: {self.lines} {self.stderr()}")
        self.session = requests.Session()
        self.session.trust_env = False

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("tickgraph: ingesting "):
                self._ready.set()
        self._ready.set()

    def ready_line(self):
        return next((x for x in self.lines if x.startswith("tickgraph: ingesting ")), None)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def metrics_text(self, timeout=30):
        """The text of /metrics."""
        r = self.session.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=timeout)
        assert r.status_code == 200, r.text[:300]
        return r.text

    def scrape(self, timeout=30):
        """The parsed /metrics, and how long the request took (s)."""
        start = time.monotonic()
        text = self.metrics_text(timeout)
        return parse_prometheus(text), time.monotonic() - start

    def metrics(self):
        assert self.running(), f"the worker exited {self.proc.returncode}: {self.stderr()}"
        return self.scrape()[0]

    def ticks_total(self, source="kafka"):
        return metric(self.metrics(), "tickgraph_ingest_ticks_total", source=source)

    def wait(self, predicate, timeout, what, interval=0.2):
        """wait_for, with the worker's counters and stderr in the error on a timeout."""
        try:
            wait_for(predicate, timeout, what, interval)
        except TimeoutError as e:
            state = ""
            if self.running() and self.metrics_port:
                s, _ = self.scrape()
                state = {f"{n}{dict(labels)}": v for (n, labels), v in s.items()
                         if n.startswith("tickgraph_ingest_")}
            raise TimeoutError(f"{e}\nworker metrics: {state}\nworker stderr: "
                               f"{self.stderr()[-3000:]}") from None

    def stop(self, timeout=30):
        """SIGTERM; requires exit 0 and "tickgraph: stopped"."""
        assert self.running(), f"the worker exited {self.proc.returncode}: {self.stderr()}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the worker did not stop within {timeout} s of SIGTERM")
        self._reader.join(5)
        self._stderr.close()
        assert rc == EXIT_OK, f"the worker exited {rc} after SIGTERM: {self.stderr()[-2000:]}"
        assert "tickgraph: stopped" in self.lines, f"no stop message in {self.lines}"

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workers():
    """Starts workers (as Worker(...)) and kills whatever still runs at the end of the test."""
    started = []

    def start(*args, **kwargs):
        w = Worker(*args, **kwargs)
        started.append(w)
        return w
    yield start
    for w in started:
        w.kill()


# --------------------------------------------------------------------------------------------
# The SQLite file, read by Python


class Db:
    """Read-only views of a tickgraph SQLite file (WAL: readable while a worker writes)."""

    def __init__(self, path):
        self.path = Path(path)
        self.url = f"sqlite:{self.path}"

    def query(self, sql, *params):
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def tick_count(self):
        if not self.path.exists():
            return 0
        return self.query("SELECT count(*) FROM ticks")[0][0]

    def ticks(self):
        """Counter of (symbol, time, price, size) over every stored tick."""
        return collections.Counter(self.query(
            "SELECT a.symbol, t.time, t.price, t.size FROM ticks t "
            "JOIN assets a ON a.id = t.asset_id"))

    def candles(self, interval):
        """{(symbol, time): (open, high, low, close, volume)} of one interval."""
        return {(s, t): tuple(v) for s, t, *v in self.query(
            "SELECT a.symbol, c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c "
            "JOIN assets a ON a.id = c.asset_id WHERE c.interval = ?", interval)}

    def candle_count(self, interval):
        return self.query("SELECT count(*) FROM candles WHERE interval = ?", interval)[0][0]

    def analytics(self, graph, version, symbol):
        """{output: {time: value or None}} of a graph version's stored values for one asset."""
        out = collections.defaultdict(dict)
        for output, t, value in self.query(
                "SELECT y.output, y.time, y.value FROM analytics y "
                "JOIN assets a ON a.id = y.asset_id JOIN graphs g ON g.id = y.graph_id "
                "WHERE g.name = ? AND y.version = ? AND a.symbol = ?", graph, version, symbol):
            out[output][t] = value
        return dict(out)

    def analytics_versions(self, graph):
        return {v for (v,) in self.query(
            "SELECT DISTINCT y.version FROM analytics y JOIN graphs g ON g.id = y.graph_id "
            "WHERE g.name = ?", graph)}


# --------------------------------------------------------------------------------------------
# The oracle


def monday_of(t):
    """00:00 UTC of the Monday on or before time t (ns), by Python's calendar."""
    day = datetime.fromtimestamp(t // SECOND, timezone.utc).date()
    monday = datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(),
                              timezone.utc)
    return int(monday.timestamp()) * SECOND


def bar_time(t, interval_ns):
    """The open time of the bar holding time t: floor(t / interval), except that a week starts
    on Monday 00:00 UTC (the README's rule; the epoch was a Thursday)."""
    if interval_ns == INTERVALS["1w"]:
        return monday_of(t)
    return t // interval_ns * interval_ns


def aggregate(ticks, interval_ns):
    """{(symbol, open time): (open, high, low, close, volume)} of ticks in time order."""
    bars = {}
    for symbol, t, price, size in ticks:
        key = (symbol, bar_time(t, interval_ns))
        bar = bars.get(key)
        if bar is None:
            bars[key] = [price, price, price, price, size]
        else:
            bar[1] = max(bar[1], price)
            bar[2] = min(bar[2], price)
            bar[3] = price
            bar[4] += size
    return {k: tuple(v) for k, v in bars.items()}


def closed_by(bars, interval_ns, now_ns):
    """The bars whose end is at or before now_ns."""
    return {k: v for k, v in bars.items() if k[1] + interval_ns <= now_ns}


def first_differences(got, want, n=5):
    missing = sorted(set(want) - set(got))[:n]
    extra = sorted(set(got) - set(want))[:n]
    wrong = [(k, got[k], want[k]) for k in sorted(set(got) & set(want)) if got[k] != want[k]][:n]
    return f"missing {missing}, unexpected {extra}, different (got, want) {wrong}"


def wait_for_closed_bars(db, ticks, intervals, timeout):
    """Waits until every bar of `ticks` is in the store (the ticks are in the past, so every bar
    has ended by the wall clock; the last bars close only when the idle worker closes them by
    the clock), then requires the stored candles of each interval to be exactly those bars."""
    expected = {iv: aggregate(ticks, INTERVALS[iv]) for iv in intervals}
    now = time.time_ns()
    for iv in intervals:
        assert closed_by(expected[iv], INTERVALS[iv], now) == expected[iv], \
            f"test data with a {iv} bar that has not ended yet: make it older"
    wait_for(lambda: all(db.candle_count(iv) >= len(expected[iv]) for iv in intervals), timeout,
             "the bars of every interval")
    for iv in intervals:
        got = db.candles(iv)
        assert got == expected[iv], f"candles {iv}: {first_differences(got, expected[iv])}"


def ticks_over(n_symbols, n_ticks, seed, span_s, start_ns=feeds.TICKS_START_NS):
    """make_ticks spread over `span_s` seconds from `start_ns` (fixed, never the clock's)."""
    return feeds.make_ticks(n_symbols, n_ticks, seed, start_ns=start_ns,
                            step_ns=span_s * SECOND // n_ticks)


def close_to(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def pulled_analytics(api, symbol, graph="chain", interval="1m"):
    """{output: {time: value or None}} of GET /v1/assets/{symbol}/analytics."""
    body = api.get(f"/v1/assets/{symbol}/analytics", params={"graph": graph, "interval": interval},
                   message="tickgraph.v1.AnalyticsResult").data
    ts = [int(t) for t in body.get("ts", [])]
    return {s["name"]: dict(zip(ts, s["values"])) for s in body["series"]}


def assert_push_equals_pull(stored, pulled, symbol):
    assert set(stored) == set(pulled) == set(CHAIN_OUTPUTS), (symbol, set(stored), set(pulled))
    for output in CHAIN_OUTPUTS:
        got, want = stored[output], pulled[output]
        assert set(got) == set(want), \
            f"{symbol} {output}: stored bars {len(got)} != pulled {len(want)}: " \
            f"{sorted(set(got) ^ set(want))[:5]}"
        bad = [(t, got[t], want[t]) for t in sorted(want) if not close_to(got[t], want[t])]
        assert not bad, f"{symbol} {output}: stored != pulled at {bad[:5]}"


def lag(samples, source="kafka"):
    """The sum of tickgraph_ingest_lag_messages over the partitions (None when absent)."""
    values = [v for (name, labels), v in samples.items()
              if name == "tickgraph_ingest_lag_messages" and ("source", source) in labels]
    return sum(values) if values else None


def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# --------------------------------------------------------------------------------------------
# Kafka into SQLite


def test_kafka_100k_ticks_stored_once_aggregated_and_analysed(tmp_path, workers):
    """100,000 protobuf ticks of 50 symbols on 6 partitions: the worker counts them all, its lag
    falls to 0, every tick is stored exactly once, the candles of every interval are the Python
    aggregation of the ticks (the last bars closed by the idle clock), and the chain graph's
    stored values equal GET …/analytics over the same bars. The ticks run from a Sunday 22:00
    UTC past Monday 00:00 UTC, so there are two weekly bars per symbol, cut where tickgraph's
    weeks start."""
    db = Db(tmp_path / "db.sqlite")
    put_graph(tmp_path, db.url)
    # About 230 one-minute bars per symbol: past every lookback but ema200's settling.
    ticks = ticks_over(50, 100_000, seed=11, span_s=4 * 3600 - 600)
    assert monday_of(ticks[0][1]) < monday_of(ticks[-1][1]), "the ticks must cross a Monday"
    with MockKafka(brokers=3, topics={"ticks": 6}) as kafka:
        assert feeds.produce(kafka.bootstrap, "ticks", ticks) == len(ticks)
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--group", "g1", "--auto-create", "--graph", "chain@1m", db=db.url)
        assert worker.ready_line() == (
            f"tickgraph: ingesting kafka topic ticks (group g1) into {db.url}; metrics on "
            f"http://127.0.0.1:{worker.metrics_port}/metrics")

        def caught_up():
            s = worker.metrics()
            return metric(s, "tickgraph_ingest_ticks_total", source="kafka") >= len(ticks) \
                and lag(s) == 0
        worker.wait(caught_up, 90, "100,000 ticks counted and lag 0", interval=0.5)
        samples = worker.metrics()
        assert metric(samples, "tickgraph_ingest_ticks_total", source="kafka") == len(ticks)
        partitions = {dict(labels)["partition"] for (name, labels) in samples
                      if name == "tickgraph_ingest_lag_messages"}
        assert partitions == {str(p) for p in range(6)}
        assert metric(samples, "tickgraph_ingest_paused", source="kafka") == 0
        wait_for_closed_bars(db, ticks, list(INTERVALS), timeout=20)
        worker.stop()
    stored = db.ticks()
    assert stored == collections.Counter(ticks), \
        f"{sum(stored.values())} ticks stored for {len(ticks)} produced; duplicates " \
        f"{[k for k, n in stored.items() if n > 1][:3]}, missing " \
        f"{list(collections.Counter(ticks) - stored)[:3]}"

    server = Server(tmp_path / "api", "--no-simulate", db=db.url)
    try:
        api = Api(server.base)
        for symbol in feeds.symbols(50)[::7]:
            stored_values = db.analytics("chain", 1, symbol)
            assert_push_equals_pull(stored_values, pulled_analytics(api, symbol), symbol)
            # Every output has values once past its lookback (none is all null on both sides).
            assert all(any(v is not None for v in stored_values[o].values())
                       for o in CHAIN_OUTPUTS), f"{symbol}: an output never has a value"
            bars = {t for (s, t) in db.candles("1m") if s == symbol}
            assert set(stored_values["sma20"]) == bars, f"{symbol}: analytics rows != 1m bars"
    finally:
        server.stop()


def test_kafka_json_ticks(tmp_path, workers):
    """The same through --format json (the protobuf JSON mapping), with --intervals 1m,1h: every
    tick stored once and both intervals' candles equal the Python aggregation; JSON cut short,
    protobuf binary and a JSON array are undecodable dead letters."""
    db = Db(tmp_path / "db.sqlite")
    ticks = ticks_over(5, 10_000, seed=12, span_s=3600)
    bad = [b'{"symbol":"S00","time":"1","price":', feeds.tick_bytes("S00", ticks[0][1], 1.0, 1.0),
           b'["S00", 1, 1.0, 1.0]']
    with MockKafka(brokers=1, topics={"ticks": 3}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", ticks[:5000], fmt="json")
        for value in bad:  # cut short, protobuf binary, not an object
            feeds.produce_raw(kafka.bootstrap, "ticks", b"S00", value)
        feeds.produce(kafka.bootstrap, "ticks", ticks[5000:], fmt="json")
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--format", "json", "--auto-create", "--intervals", "1m,1h",
                         "--idle-close", "500", db=db.url)
        worker.wait(lambda: worker.ticks_total() >= len(ticks), 60, "10,000 JSON ticks",
                    interval=0.3)
        wait_for_closed_bars(db, ticks, ["1m", "1h"], timeout=20)
        assert db.candle_count("1s") == 0, "--intervals 1m,1h built 1s bars"

        def dead_letters():  # sent beside the ticks' write, so not ordered with the tick count
            return feeds.consume_all(kafka.bootstrap, "ticks.deadletter")
        worker.wait(lambda: len(dead_letters()) >= len(bad), 20, "the dead letters", 0.3)
        letters = dead_letters()
        assert sorted(v for _, v, _ in letters) == sorted(bad)
        assert metric(worker.metrics(), "tickgraph_ingest_poison_total", source="kafka",
                      reason="undecodable") == len(bad)
        worker.stop()
    assert db.ticks() == collections.Counter(ticks)


def test_kafka_poison_goes_to_the_dead_letter_topic(tmp_path, workers):
    """Undecodable bytes, a key that is not the symbol, an unknown symbol (no --auto-create) and
    bad values (negative size, NaN, infinite, zero or negative price, a time over an hour ahead,
    at or before the epoch) each go to ticks.deadletter with the original key and bytes and the
    headers tickgraph-reason/-topic/-partition/-offset; the good ticks around them are all
    stored, the poison counter counts each reason, and the worker keeps running."""
    db = Db(tmp_path / "db.sqlite")
    names = ["S00", "S01", "S02"]
    add_assets(tmp_path, db.url, names)
    ticks = ticks_over(3, 600, seed=13, span_s=1200)
    before, after = ticks[:300], ticks[300:]
    t = before[-1][1] + 1  # inside the good ticks' range, a time no good tick has
    future = time.time_ns() + 2 * 3600 * SECOND

    def tick(symbol, time_ns=t, price=100.0, size=1.0):
        return feeds.tick_bytes(symbol, time_ns, price, size)
    # (key, value, reason class, words of the reason)
    poison = [
        (b"S00", b"\x0a\xff\xff\xff\x0f", "undecodable", []),
        (b"S01", tick("S00"), "wrong_key", ["S01", "S00"]),
        (b"ZZZ", tick("ZZZ"), "unknown_symbol", ["ZZZ"]),
        (b"S00", tick("S00", size=-1.0), "bad_values", ["size"]),
        (b"S00", tick("S00", price=float("nan")), "bad_values", ["price", "nan"]),
        (b"S01", tick("S01", price=float("inf")), "bad_values", ["price"]),
        (b"S01", tick("S01", price=0.0), "bad_values", ["price"]),
        (b"S02", tick("S02", price=-3.5), "bad_values", ["price"]),
        (b"S02", tick("S02", time_ns=future), "bad_values", ["time", "future"]),
        (b"S02", tick("S02", time_ns=0), "bad_values", ["time"]),
        (b"S00", tick("S00", time_ns=-5), "bad_values", ["time"]),
    ]
    assert len({value for _, value, _, _ in poison}) == len(poison)
    with MockKafka(brokers=1, topics={"ticks": 3}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", before)
        for key, value, _, _ in poison:
            feeds.produce_raw(kafka.bootstrap, "ticks", key, value)
        feeds.produce(kafka.bootstrap, "ticks", after)
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--intervals", "1m", db=db.url)
        worker.wait(lambda: worker.ticks_total() >= len(ticks), 30, "the good ticks")

        def dead_letters():
            return feeds.consume_all(kafka.bootstrap, "ticks.deadletter")
        worker.wait(lambda: len(dead_letters()) >= len(poison), 20, "the dead letters", 0.3)
        letters = dead_letters()
        assert len(letters) == len(poison), f"{len(letters)} dead letters for {len(poison)}"
        origin = {value: (p, offset) for p, offset, _, value, _ in
                  feeds.consume_all(kafka.bootstrap, "ticks", with_partitions=True)}
        by_value = {value: (key, headers) for key, value, headers in letters}
        for key, value, reason_class, words in poison:
            assert value in by_value, f"{reason_class} {value!r} is not in the dead letters"
            got_key, headers = by_value[value]
            reason = headers.get("tickgraph-reason", b"").decode()
            assert got_key == key, (reason_class, got_key, key)
            assert reason and all(w.lower() in reason.lower() for w in words), \
                f"{reason_class}: reason {reason!r} does not name {words}"
            p, offset = origin[value]
            assert headers.get("tickgraph-reason-class") == reason_class.encode(), headers
            assert headers.get("tickgraph-source") == b"kafka", headers
            assert headers.get("tickgraph-topic") == b"ticks", headers
            assert headers.get("tickgraph-partition") == str(p).encode(), (headers, p)
            assert headers.get("tickgraph-offset") == str(offset).encode(), (headers, offset)

        samples = worker.metrics()
        counts = collections.Counter(reason_class for _, _, reason_class, _ in poison)
        for reason_class, n in counts.items():
            assert metric(samples, "tickgraph_ingest_poison_total", source="kafka",
                          reason=reason_class) == n, reason_class
        assert metric(samples, "tickgraph_ingest_ticks_total", source="kafka") == len(ticks)
        assert worker.running()
        worker.stop()
    assert db.ticks() == collections.Counter(ticks), "the stored ticks are not the good ones"
    assert db.query("SELECT count(*) FROM assets WHERE symbol = 'ZZZ'") == [(0,)]


def test_kafka_sigkill_and_redelivery_store_each_tick_once(tmp_path, workers):
    """A worker SIGKILLed mid-ingest is replaced by one of the same group: it resumes from the
    committed offsets, recognises the redelivered ticks already stored (its tick counter counts
    exactly the ticks the first one had not stored), and at the end every tick is stored once and
    the candles equal the Python aggregation, no bar missing or counted twice. A third worker in
    a new group, reading the whole topic again, changes nothing."""
    db = Db(tmp_path / "db.sqlite")
    ticks = ticks_over(20, 40_000, seed=14, span_s=2 * 3600)
    intervals = ["1s", "1m", "5m", "1h"]
    common = ["--topic", "ticks", "--group", "g", "--auto-create",
              "--intervals", ",".join(intervals), *FAST_GROUP]
    with MockKafka(brokers=1, topics={"ticks": 4}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", ticks)
        first = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, *common, db=db.url,
                        name="first")
        first.wait(lambda: db.tick_count() >= len(ticks) // 4, 60,
                   "a quarter of the ticks stored", interval=0.02)
        first.kill()
        stored_before = db.tick_count()
        assert stored_before < len(ticks), "the first worker finished before it was killed"

        second = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, *common, db=db.url,
                         name="second")
        second.wait(lambda: db.tick_count() >= len(ticks) and lag(second.metrics()) == 0, 60,
                    "every tick stored after the restart", interval=0.3)
        wait_for_closed_bars(db, ticks, intervals, timeout=20)
        assert second.ticks_total() == len(ticks) - stored_before, \
            "the second worker applied redelivered ticks again (or lost some)"
        second.stop()
        assert db.ticks() == collections.Counter(ticks)
        candles = {iv: db.candles(iv) for iv in intervals}

        again = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, *common[:2], "--group",
                        "fresh", *common[4:], db=db.url, name="again")
        again.wait(lambda: (lambda s: lag(s) == 0 and metric(
            s, "tickgraph_ingest_rebalances_total", source="kafka") >= 1)(again.metrics()),
            60, "the new group read the whole topic", interval=0.3)
        assert again.ticks_total() == 0
        again.stop()
    assert db.ticks() == collections.Counter(ticks), "reading the topic again changed the ticks"
    assert {iv: db.candles(iv) for iv in intervals} == candles, "reading again changed bars"


def test_kafka_backpressure_while_the_store_is_locked(tmp_path, workers):
    """While another process holds the SQLite file's write lock (BEGIN EXCLUSIVE) and 400,000
    ticks wait in the topic, the worker reports paused = 1 and retries, stores nothing more,
    and its memory stays flat (with --prefetch 50000, peak RSS less than 64 MB over the
    baseline: the read-ahead is bounded, whatever the backlog; seen 18 MB, and 47 MB under
    AddressSanitizer); once the lock is released every tick is stored and paused returns to 0.
    The outage is seen while it lasts, not only afterwards: the store retries are counted and
    stderr says the store is locked and reading is paused; "the store works again, reading
    resumed" follows the release.
    Its /metrics must stay useful meanwhile: answered within 2 s, with the backlog in the lag."""
    db = Db(tmp_path / "db.sqlite")
    warm = feeds.make_ticks(8, 1000, seed=15)  # 10 s from feeds.TICKS_START_NS
    backlog = ticks_over(8, 400_000, seed=16, span_s=3600,
                         start_ns=feeds.TICKS_START_NS + 60 * SECOND)
    total = len(warm) + len(backlog)
    with MockKafka(brokers=1, topics={"ticks": 8}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", warm)
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--auto-create", "--intervals", "1m", "--prefetch", "50000",
                         db=db.url)
        worker.wait(lambda: worker.ticks_total() >= len(warm), 30, "the first ticks")
        baseline = rss_mb(worker.proc.pid)

        lock = sqlite3.connect(str(db.path), isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")
        released = False
        try:
            feeds.produce(kafka.bootstrap, "ticks", backlog)
            paused_scrapes = []  # (seconds the scrape took, lag) while paused

            def paused():
                s, took = worker.scrape()
                if metric(s, "tickgraph_ingest_paused", source="kafka") == 1:
                    paused_scrapes.append((took, lag(s)))
                    return True
                return False
            # (Scraping at most once a second leaves the worker time to export the gauge.)
            worker.wait(paused, 60, "tickgraph_ingest_paused == 1", interval=1.0)
            # Paused: nothing more is counted or stored, whatever the backlog.
            held = worker.ticks_total()
            assert held == db.tick_count() == len(warm)
            window_end = time.monotonic() + 2
            while time.monotonic() < window_end:
                assert db.tick_count() == held
                time.sleep(0.1)
            s, took = worker.scrape()
            paused_scrapes.append((took, lag(s)))
            assert metric(s, "tickgraph_ingest_ticks_total", source="kafka") == held
            assert metric(s, "tickgraph_ingest_paused", source="kafka") == 1
            assert metric(s, "tickgraph_ingest_store_retries_total", source="kafka") >= 1
            assert db.tick_count() == held
            outage_lines = [line for line in worker.stderr().splitlines()
                            if "(reading paused, nothing acknowledged, retrying)" in line]
            assert outage_lines and "database is locked" in outage_lines[0], \
                f"stderr does not report the locked store: {worker.stderr()[-2000:]}"
            assert "reading resumed" not in worker.stderr()
            peak = rss_mb(worker.proc.pid, "VmHWM")
            assert peak - baseline < 64, \
                f"RSS grew from {baseline:.0f} MB to a peak of {peak:.0f} MB while paused"
            lock.execute("ROLLBACK")
            released = True
        finally:
            if not released:
                lock.execute("ROLLBACK")
            lock.close()

        worker.wait(lambda: worker.ticks_total() >= total, 90,
                    "the backlog stored after release", interval=0.5)
        samples = worker.metrics()
        assert metric(samples, "tickgraph_ingest_paused", source="kafka") == 0
        assert metric(samples, "tickgraph_ingest_store_retries_total", source="kafka") >= 1
        worker.wait(lambda: lag(worker.metrics()) == 0, 10, "lag 0 after the backlog")
        worker.stop()
        assert "the store works again, reading resumed" in worker.stderr()
    assert db.ticks() == collections.Counter(warm + backlog)
    # Observability during the outage (checked last, so that the above is known to hold).
    problems = []
    slow = [took for took, _ in paused_scrapes if took > 2]
    if slow:
        problems.append(f"/metrics took up to {max(slow):.1f} s to answer while the store was "
                        f"locked ({len(slow)} of {len(paused_scrapes)} scrapes over 2 s)")
    lags = [lg for _, lg in paused_scrapes]
    if not all(lg is not None and lg > 0 for lg in lags):
        problems.append(f"tickgraph_ingest_lag_messages summed {lags} while 400,000 ticks "
                        f"waited in the topic")
    assert not problems, "\n".join(problems)


def test_kafka_broker_outage_is_seen_and_ridden_out(tmp_path, workers):
    """When the only broker goes down under a running worker, the worker's Kafka client reports
    it on the worker's stderr ("brokers are down") while the broker is down, and the worker keeps
    running and answering /metrics; once the broker is back, the ticks produced then are stored
    too: every tick once, the 1m candles equal to the Python aggregation, lag 0."""
    db = Db(tmp_path / "db.sqlite")
    before = ticks_over(4, 2000, seed=19, span_s=600)
    # An hour later, so that no tick of it falls in a bar the idle clock closed meanwhile.
    after = ticks_over(4, 2000, seed=20, span_s=600,
                       start_ns=feeds.TICKS_START_NS + 3600 * SECOND)
    with MockKafka(brokers=1, topics={"ticks": 2}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", before)
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--auto-create", "--intervals", "1m", *FAST_GROUP, db=db.url)
        worker.wait(lambda: worker.ticks_total() >= len(before) and lag(worker.metrics()) == 0,
                    30, "the ticks before the outage")
        reported = worker.stderr().count("brokers are down")
        kafka.broker_down(1)
        # librdkafka reports a lost connection at once; 10 s is for a loaded machine.
        worker.wait(lambda: worker.stderr().count("brokers are down") > reported, 10,
                    "the worker reporting the broker down")
        assert worker.running()
        assert metric(worker.metrics(), "tickgraph_ingest_ticks_total", source="kafka") == \
            len(before)
        kafka.broker_up(1)
        feeds.produce(kafka.bootstrap, "ticks", after)
        worker.wait(lambda: worker.ticks_total() >= len(before) + len(after) and
                    lag(worker.metrics()) == 0, 60, "the ticks produced after the outage",
                    interval=0.5)
        wait_for_closed_bars(db, before + after, ["1m"], timeout=20)
        worker.stop()
    assert db.ticks() == collections.Counter(before + after)


@pytest.mark.parametrize("args,code,words", [
    (["--graph", "nosuch"], EXIT_BAD_INPUT, ["nosuch"]),
    (["--graph", "chain@7m"], EXIT_BAD_INPUT, ["7m"]),
    (["--graph", "chain@1h", "--intervals", "1m"], EXIT_USAGE, ["1h", "--intervals"]),
    (["--format", "xml"], EXIT_USAGE, ["xml"]),
    (["--intervals", "1m,2m"], EXIT_USAGE, ["2m"]),
], ids=["unknown-graph", "bad-graph-interval", "graph-interval-not-built", "format-xml",
        "bad-intervals"])
def test_kafka_bad_arguments_exit_with_their_code(tmp_path, args, code, words):
    """A bad argument ends the worker before it reads anything, with the exit code of its kind
    (1 bad input, 2 usage) and a message on stderr naming what was wrong."""
    db = f"sqlite:{tmp_path / 'db.sqlite'}"
    put_graph(tmp_path, db)
    r = run_tickgraph(tmp_path, "ingest", "kafka", "--brokers", "127.0.0.1:1", "--topic", "t",
                      "--db", db, *args)
    assert r.returncode == code, f"exit {r.returncode}, expected {code}: {r.stderr}"
    assert all(w in r.stderr for w in words), f"stderr does not name {words}: {r.stderr}"
    assert "tickgraph: ingesting" not in r.stdout


def test_ingest_usage_and_store_failures(tmp_path):
    """A missing required option is a usage error (2) naming it, for both sources; a database
    that cannot be opened is a failure (3) naming its path."""
    r = run_tickgraph(tmp_path, "ingest", "kafka", "--brokers", "127.0.0.1:1")
    assert r.returncode == EXIT_USAGE and "--topic" in r.stderr, (r.returncode, r.stderr)
    r = run_tickgraph(tmp_path, "ingest", "nats")
    assert r.returncode == EXIT_USAGE and "--servers" in r.stderr, (r.returncode, r.stderr)
    r = run_tickgraph(tmp_path, "ingest")
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    (tmp_path / "a-file").write_text("")
    impossible = tmp_path / "a-file" / "db.sqlite"  # (missing directories would be created)
    r = run_tickgraph(tmp_path, "ingest", "kafka", "--brokers", "127.0.0.1:1", "--topic", "t",
                      "--db", f"sqlite:{impossible}", timeout=20)
    assert r.returncode == EXIT_FAILURE and "a-file" in r.stderr, (r.returncode, r.stderr)


# --------------------------------------------------------------------------------------------
# NATS JetStream into SQLite


def publish_ticks(url, ticks):
    """Publishes ticks to JetStream, each on tickgraph.v1.ticks.<symbol>, per symbol in order."""
    by_symbol = collections.defaultdict(list)
    for t in ticks:
        by_symbol[t[0]].append(feeds.tick_bytes(*t))
    for symbol, payloads in by_symbol.items():
        feeds.nats_publish(url, f"tickgraph.v1.ticks.{symbol}", payloads)


def test_nats_jetstream_ingest_with_poison(tmp_path, workers):
    """`ingest nats` creates its stream, stores every good tick published on
    tickgraph.v1.ticks.<symbol> exactly once with the 1m candles of the Python aggregation, and
    sends undecodable, bad-valued and unknown-symbol messages to the dead-letter subject with
    their original bytes and the feed policy's headers (tickgraph-reason, -reason-class,
    -source, -topic the subject, -partition the stream, -offset the stream sequence); the
    counters and the lag agree."""
    db = Db(tmp_path / "db.sqlite")
    names = ["S00", "S01", "S02"]
    add_assets(tmp_path, db.url, names)
    ticks = ticks_over(3, 3000, seed=17, span_s=1800)
    t = ticks[1500][1] + 1
    poison = [  # (subject's symbol, value, reason class, words of the reason)
        ("S00", b"\x0a\xff\xff\xff\x0f", "undecodable", []),
        ("S01", feeds.tick_bytes("S01", t, float("nan"), 1.0), "bad_values", ["price", "nan"]),
        ("S02", feeds.tick_bytes("S02", time.time_ns() + 2 * 3600 * SECOND, 10.0, 1.0),
         "bad_values", ["time"]),
        ("S00", feeds.tick_bytes("S00", t, 10.0, -2.0), "bad_values", ["size"]),
        ("ZZZ", feeds.tick_bytes("ZZZ", t, 10.0, 1.0), "unknown_symbol", ["ZZZ"]),
    ]
    with NatsServer() as nats:
        worker = workers(tmp_path, "nats", "--servers", nats.url, "--intervals", "1m",
                         "--idle-close", "500", db=db.url)
        assert worker.ready_line().startswith(
            "tickgraph: ingesting nats stream TICKS (durable tickgraph-ingest) into ")
        with NatsSubscriber(nats.url, "tickgraph.v1.deadletter.ticks") as dead:
            publish_ticks(nats.url, ticks[:1500])
            for symbol, value, _, _ in poison:
                feeds.nats_publish(nats.url, f"tickgraph.v1.ticks.{symbol}", [value])
            publish_ticks(nats.url, ticks[1500:])
            letters = dead.wait(len(poison), 20, "the dead letters")
            worker.wait(lambda: worker.ticks_total("nats") >= len(ticks), 30, "the good ticks")
            wait_for_closed_bars(db, ticks, ["1m"], timeout=20)
            assert len(dead.snapshot()) == len(poison), "more dead letters than poison"
        by_value = {payload: (subject, headers) for subject, headers, payload in letters}
        sequences = set()
        for symbol, value, reason_class, words in poison:
            assert value in by_value, f"{reason_class} {value!r} is not among the dead letters"
            _, headers = by_value[value]
            reason = headers.get("tickgraph-reason", "")
            assert reason and all(w.lower() in reason.lower() for w in words), (reason, words)
            assert headers.get("tickgraph-reason-class") == reason_class, headers
            assert headers.get("tickgraph-source") == "nats", headers
            assert headers.get("tickgraph-topic") == f"tickgraph.v1.ticks.{symbol}", headers
            assert headers.get("tickgraph-partition") == "TICKS", headers
            sequences.add(int(headers["tickgraph-offset"]))
        # Stream sequences: the poison came after the first 1500 ticks, before the rest.
        assert sequences == set(range(1501, 1501 + len(poison))), sorted(sequences)

        def settled():
            s = worker.metrics()
            return lag(s, "nats") == 0 and all(
                metric(s, "tickgraph_ingest_poison_total", source="nats", reason=r) == n
                for r, n in collections.Counter(p[2] for p in poison).items())
        worker.wait(settled, 10, "lag 0 and the poison counted")
        assert worker.ticks_total("nats") == len(ticks)
        worker.stop()
    assert db.ticks() == collections.Counter(ticks)


# --------------------------------------------------------------------------------------------
# The bus: workers publish, stateless API nodes relay


def stream_message(text):
    """A stream message as a dict, after checking that it parses as tickgraph.v1.StreamMessage."""
    contract().parse(text, "tickgraph.v1.StreamMessage")
    data = json.loads(text)
    assert len(data) == 1, f"a StreamMessage holds one of its kinds: {text[:300]}"
    return data


def candle_tuple(c):
    return tuple(float(c.get(k, 0.0)) for k in ("open", "high", "low", "close", "volume"))


def test_bus_relays_worker_updates_through_a_stateless_api_node(tmp_path, workers):
    """A worker with --nats publishes its updates; `serve --no-engine --nats` (same database)
    refuses POST /v1/ticks with 503, gives a WebSocket client subscribed to 3 symbols at 1m with
    the chain graph a snapshot from the store, then relays the worker's live updates for all 3
    (forming, and final with the graph's values, equal to the Python aggregation and to the pull
    endpoint). A PUT of the graph on that node reaches the client as graph_changed, goes on the
    bus as a GraphChange, and the worker then stores the new version's values."""
    db = Db(tmp_path / "db.sqlite")
    put_graph(tmp_path, db.url)
    names = ["S00", "S01", "S02"]
    ticks = ticks_over(3, 6000, seed=18, span_s=2 * 3600)
    history, live, later = ticks[:3000], ticks[3000:4500], ticks[4500:]
    bars = aggregate(ticks, INTERVALS["1m"])
    Update = contract().message("tickgraph.v1.Update")
    GraphChange = contract().message("tickgraph.v1.GraphChange")
    with NatsServer() as nats, MockKafka(brokers=1, topics={"ticks": 3}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", history)
        worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                         "--auto-create", "--graph", "chain@1m", "--intervals", "1m,5m",
                         "--nats", nats.url, db=db.url)
        worker.wait(lambda: worker.ticks_total() >= len(history), 30, "the history stored")
        server = Server(tmp_path / "api", "--no-engine", "--nats", nats.url, db=db.url)
        bus = NatsSubscriber(nats.url, "tickgraph.v1.updates.>")
        control = NatsSubscriber(nats.url, "tickgraph.v1.control.graphs")
        try:
            api = Api(server.base)
            refused = api.post("/v1/ticks", {"ticks": [
                {"symbol": "S00", "time": str(live[0][1]), "price": 10.0, "size": 1.0}]},
                expect=503)
            assert refused.msg.code == "unavailable", refused.text

            # An SSE client of S01 on the same node, read on its own thread.
            sse = api.session.get(server.base + "/v1/stream/sse", stream=True, timeout=(5, 30),
                                  params={"assets": "S01", "interval": "1m", "graph": "chain"})
            assert sse.status_code == 200 and \
                sse.headers["Content-Type"].startswith("text/event-stream"), sse.text[:300]
            sse_messages = []

            def read_sse():
                for line in sse.iter_lines(decode_unicode=True):
                    if line.startswith("data:"):
                        sse_messages.append(stream_message(line[5:].strip()))
                        if any(m.get("update", {}).get("final") for m in sse_messages):
                            return
            sse_reader = threading.Thread(target=read_sse, daemon=True)
            sse_reader.start()

            async def client():
                ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/v1/stream",
                                              ping_interval=None, max_size=None)
                try:
                    await ws.send(json.dumps({"subscribe": {
                        "assets": names, "interval": "INTERVAL_1M", "graph": "chain"}}))
                    snapshot = stream_message(await asyncio.wait_for(ws.recv(), 10))
                    producing = asyncio.create_task(asyncio.to_thread(
                        feeds.produce, kafka.bootstrap, "ticks", live))
                    forming, finals = collections.defaultdict(list), collections.defaultdict(list)
                    deadline = time.monotonic() + 30
                    while not all(len(finals[s]) >= 3 and forming[s] for s in names):
                        assert time.monotonic() < deadline, \
                            f"updates after 30 s: forming {dict(forming).keys()}, finals " \
                            f"{ {s: len(v) for s, v in finals.items()} }"
                        m = stream_message(await asyncio.wait_for(ws.recv(), 30))
                        if "update" in m:
                            u = m["update"]
                            (finals if u.get("final") else forming)[u["symbol"]].append(u)
                        else:
                            assert "lag" in m, m
                    await producing
                    # Push equals pull, before the graph changes. The worker publishes a batch's
                    # updates before its store write lands (offsets are committed after it), so
                    # the pull is asked again until the store holds every final bar pushed.
                    pulled = {}

                    def every_final_pulled():
                        pulled.update({s: pulled_analytics(api, s) for s in names})
                        return all(int(u["candle"]["time"]) in pulled[s]["sma20"]
                                   for s in names for u in finals[s])
                    await asyncio.to_thread(worker.wait, every_final_pulled, 20,
                                            "every pushed final bar stored and pulled")
                    api("PUT", "/v1/graphs/chain", json_body={"nodes": [
                        {"id": "sma21", "fn": "sma", "inputs": ["close"],
                         "params": {"period": 21}}]}, message="tickgraph.v1.Graph")
                    notice = None
                    while notice is None:
                        m = stream_message(await asyncio.wait_for(ws.recv(), 10))
                        notice = m.get("error")
                    return snapshot, forming, finals, pulled, notice
                finally:
                    await ws.close()

            snapshot, forming, finals, pulled, notice = asyncio.run(client())
            assert notice["code"] == "graph_changed", notice

            # The snapshot: the stored closed bars and values of each symbol.
            snap = snapshot["snapshot"]
            series = {c["symbol"]: c for c in snap["candles"]}
            assert set(series) == set(names)
            for s in names:
                ts = [int(t) for t in series[s]["ts"]]
                assert ts, f"{s}: no history in the snapshot"
                for i, t in enumerate(ts):
                    assert (s, t) in bars and tuple(series[s][k][i] for k in (
                        "open", "high", "low", "close", "volume")) == bars[(s, t)], (s, t)
            results = {a["symbol"]: a for a in snap["analytics"]}
            assert set(results) == set(names)
            for s in names:
                got = {x["name"]: x["values"] for x in results[s]["series"]}
                assert set(got) == set(CHAIN_OUTPUTS), got.keys()
                ts = [int(t) for t in results[s]["ts"]]
                stored = db.analytics("chain", 1, s)
                bad = [(o, t) for o in CHAIN_OUTPUTS for t, v in zip(ts, got[o])
                       if t not in stored[o] or not close_to(v, stored[o][t])]
                assert ts and not bad, f"{s}: snapshot analytics != stored at {bad[:5]}"

            # The relayed updates: final bars equal the aggregation, values equal the pull.
            for s in names:
                for u in finals[s]:
                    t = int(u["candle"]["time"])
                    assert candle_tuple(u["candle"]) == bars[(s, t)], (s, t, u["candle"])
                    assert set(u["values"]) == set(CHAIN_OUTPUTS)
                    assert t in pulled[s]["sma20"], f"{s}: final bar {t} is not pulled"
                    bad = [o for o in CHAIN_OUTPUTS
                           if not close_to(u["values"][o], pulled[s][o][t])]
                    assert not bad, f"{s} bar {t}: pushed != pulled for {bad}"
                assert all(u["interval"] == "INTERVAL_1M" for u in forming[s] + finals[s])

            # The SSE client: a snapshot of S01, then its relayed updates.
            sse_reader.join(20)
            sse.close()
            assert sse_messages and "snapshot" in sse_messages[0], sse_messages[:1]
            assert [c["symbol"] for c in sse_messages[0]["snapshot"]["candles"]] == ["S01"]
            sse_finals = [m["update"] for m in sse_messages if m.get("update", {}).get("final")]
            assert sse_finals, f"no final update by SSE in {len(sse_messages)} messages"
            u = sse_finals[0]
            assert u["symbol"] == "S01" and set(u["values"]) == set(CHAIN_OUTPUTS)
            assert candle_tuple(u["candle"]) == bars[("S01", int(u["candle"]["time"]))]

            # The bus itself: binary Updates on tickgraph.v1.updates.<symbol>.
            seen = set()
            for subject, _, payload in bus.snapshot():
                u = Update.FromString(payload)
                assert subject == f"tickgraph.v1.updates.{u.symbol}", (subject, u.symbol)
                seen.add((u.symbol, u.interval, u.final))
            assert {(s, 2, True) for s in names} <= seen, sorted(seen)  # 2: INTERVAL_1M
            changes = [GraphChange.FromString(p) for _, _, p in control.wait(1, 10)]
            assert (changes[0].name, changes[0].version, changes[0].deleted) == ("chain", 2, False)

            # The worker follows the change: its next closed bars get version 2's values.
            feeds.produce(kafka.bootstrap, "ticks", later)
            worker.wait(lambda: 2 in db.analytics_versions("chain"), 30,
                        "the worker storing graph chain version 2")
            worker.wait(lambda: worker.ticks_total() >= len(ticks), 30, "the later ticks")
            # Version 2 runs warmed from the stored bars: its values equal the pull's. The store
            # is read before the pull: the worker's idle clock may still close a bar, and a bar's
            # values are written with its candle, so a pull made later holds every stored value.
            stored_v2 = {s: db.analytics("chain", 2, s) for s in names}
            pulled_v2 = {s: pulled_analytics(api, s) for s in names}
            for s in names:
                assert set(stored_v2[s]) == {"sma21"}, stored_v2[s].keys()
                got, want = stored_v2[s]["sma21"], pulled_v2[s]["sma21"]
                assert got and set(got) <= set(want), (s, sorted(set(got) - set(want))[:3])
                bad = [(t, v, want[t]) for t, v in sorted(got.items()) if not close_to(v, want[t])]
                assert not bad, f"{s}: version 2 stored != pulled at {bad[:5]}"
        finally:
            bus.close()
            control.close()
            server.stop()
        worker.stop()


# --------------------------------------------------------------------------------------------
# Metrics


def test_every_feed_metric_the_readme_lists_is_exported_by_the_workers(tmp_path, workers):
    """Every metric the README lists "with a feed or the bus" (parsed from the README, so a
    metric added there must be exported) is on `tickgraph ingest --metrics-port`'s /metrics with
    its # HELP and # TYPE lines and samples with exactly the README's label names, over a Kafka
    worker on the NATS bus (lag by topic and partition) and a JetStream worker (lag by stream),
    each having stored its ticks and dead-lettered one undecodable message."""
    _, documented = documented_metrics()
    assert "tickgraph_ingest_lag_messages" in documented and len(documented) >= 9, documented
    ticks = ticks_over(2, 200, seed=21, span_s=60)
    poison = b"\x0a\xff\xff\xff\x0f"
    texts = []

    def settled(worker, source):
        def check():
            s = worker.metrics()
            return metric(s, "tickgraph_ingest_ticks_total", source=source) >= len(ticks) and \
                lag(s, source) == 0 and metric(s, "tickgraph_ingest_poison_total", source=source,
                                               reason="undecodable") == 1
        worker.wait(check, 30, f"the {source} worker's ticks and dead letter")
        texts.append(worker.metrics_text())
    with NatsServer() as nats, MockKafka(brokers=1, topics={"ticks": 2}) as kafka:
        feeds.produce(kafka.bootstrap, "ticks", ticks)
        feeds.produce_raw(kafka.bootstrap, "ticks", b"S00", poison)
        kafka_worker = workers(tmp_path, "kafka", "--brokers", kafka.bootstrap, "--topic", "ticks",
                               "--auto-create", "--intervals", "1m", "--nats", nats.url,
                               db=f"sqlite:{tmp_path / 'kafka.sqlite'}", name="kafka")
        settled(kafka_worker, "kafka")
        nats_worker = workers(tmp_path, "nats", "--servers", nats.url, "--auto-create",
                              "--intervals", "1m", db=f"sqlite:{tmp_path / 'nats.sqlite'}",
                              name="nats")
        publish_ticks(nats.url, ticks)
        feeds.nats_publish(nats.url, "tickgraph.v1.ticks.S00", [poison])
        settled(nats_worker, "nats")
        kafka_worker.stop()
        nats_worker.stop()
    problems = undocumented_differences(documented, texts)
    assert not problems, "\n".join(problems)
