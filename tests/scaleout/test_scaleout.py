"""The scale-out proof: separate processes share the ingest through a Kafka consumer group, one of
them dies by SIGKILL mid-run, and the result in PostgreSQL is what one process computes.

Setup, all on 127.0.0.1: a private PostgreSQL (scripts/pg-test.sh sets TICKGRAPH_TEST_PG_URL; the
test makes its own database in it), nats-server, librdkafka's mock cluster (feeds.MockKafka) with
topic `ticks` of 16 partitions, the 8-node graph `chain` stored with `tickgraph graph put`, a
stateless API node (`serve --no-engine --nats`) with a WebSocket client, and three workers
(`ingest kafka --group scaleout --graph chain@1m --nats`). 1,000,000 ticks of 50 symbols (20,000
each, spread over five fixed hours in the past, never taken from the clock: about 300 1m bars per
symbol) are
produced keyed by symbol; when 300,000 are in PostgreSQL one worker that holds partitions is
killed with SIGKILL and a fourth worker is started.

Oracles, none of them the program's own push path:
- the ticks the test made, aggregated by pandas into OHLCV bars of 1m, 5m and 1h (open first,
  high max, low min, close last, volume sum, bar time floor(t / interval) * interval): PostgreSQL
  holds exactly that set of (symbol, interval, time), none missing or extra (the primary key
  rules out duplicates), with equal values; the stored ticks are exactly the produced ticks;
- pull mode: GET /v1/assets/{symbol}/analytics?graph=chain&interval=1m (one process computing
  the whole graph over the stored candles): the materialised analytics rows the workers wrote
  equal it for every bar and output, exactly (NULL where pull gives null);
- the WebSocket client of the stateless node saw updates of all 50 symbols, also after the kill,
  and every final update it received equals the stored candle and analytics row. Final bars it
  missed or received twice are counted but not failed on: the NATS bus is at-most-once, and a
  worker killed between storing a bar and publishing it leaves that bar unpublished.

Measured figures (throughput into PostgreSQL, time to reassign the killed worker's partitions)
are printed; run pytest with -s to see them.

    TICKGRAPH_BIN=build/bin/tickgraph TICKGRAPH_KAFKA_MOCK=build/bin/kafka_mock \\
      scripts/pg-test.sh -- /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/scaleout
"""

import asyncio
import csv
import io
import json
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import confluent_kafka
import pandas as pd
import pytest
import requests
import websockets

from feeds import (TICKS_START_NS, MockKafka, NatsServer, free_port, make_ticks, produce, symbols,
                   wait_for)
from server_harness import (BIN, REPO, Api, Server, contract, isolated_env, parse_prometheus,
                            tickgraph)

NS = 10**9
MINUTE = 60 * NS
N_SYMBOLS = 50
N_TICKS = 1_000_000
# librdkafka's default partitioner (CRC-32 of the key) puts 50 symbols into 16 partitions at most
# 4 to a partition (80,000 ticks): within the mock's retention of about 120,000 per partition.
PARTITIONS = 16
GROUP = "scaleout"
TOPIC = "ticks"
INTERVALS = {"1m": MINUTE, "5m": 5 * MINUTE, "1h": 60 * MINUTE}
SPAN = 5 * 60 * MINUTE  # the ticks cover five hours from feeds.TICKS_START_NS (a fixed time)
KILL_AT = 300_000  # ticks in PostgreSQL when a worker is killed
SEED = 20261121

CHAIN = (REPO / "examples" / "chain.yaml").read_text()  # the 8-node chain, 12 outputs

# Faster group membership, when the binary can set librdkafka properties: the mock notices a
# member killed without leaving after about 1.5 x session.timeout.ms (default 45 s).
KAFKA_CONFIG = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


# --------------------------------------------------------------------------------------------
# PostgreSQL through psql


def psql(url, sql, timeout=120):
    """Runs SQL with psql; returns stdout (unaligned, comma-separated)."""
    r = subprocess.run(["psql", "-X", "-q", "-At", "-F,", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"psql {sql!r}: {r.stderr}"
    return r.stdout


def scalar(url, sql):
    return int(psql(url, sql).strip() or 0)


def query_frame(url, select, columns):
    """The rows of a SELECT as a DataFrame (COPY … TO STDOUT WITH CSV; an empty field is NULL)."""
    text = psql(url, f"COPY ({select}) TO STDOUT WITH CSV")
    rows = list(csv.reader(io.StringIO(text)))
    return pd.DataFrame(rows, columns=columns)


def fresh_database(base_url):
    """A new empty database on the server of `base_url`; returns its URL."""
    name = f"scaleout_{uuid.uuid4().hex[:12]}"
    psql(base_url, f"CREATE DATABASE {name}")
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}", name


# --------------------------------------------------------------------------------------------
# Processes


def kafka_config_supported():
    r = subprocess.run([str(BIN), "ingest", "kafka", "--help"], capture_output=True, text=True,
                       timeout=30)
    return "--kafka-config" in r.stdout


class Worker:
    """`tickgraph ingest kafka … --graph chain@1m --nats URL --metrics-port P`, until stop()."""

    def __init__(self, directory, name, brokers, db, nats_url, kafka_config):
        self.name = name
        self.directory = Path(directory) / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.directory / "stderr"
        self.lines = []
        self.port = free_port()
        extra = []
        for k, v in kafka_config.items():
            extra += ["--kafka-config", f"{k}={v}"]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "ingest", "kafka", "--brokers", brokers, "--topic", TOPIC, "--group", GROUP,
             "--db", db, "--auto-create", "--graph", "chain@1m",
             "--intervals", ",".join(INTERVALS), "--nats", nats_url,
             "--metrics-port", str(self.port), "--idle-close", "2000", *extra],
            stdout=subprocess.PIPE, stderr=self._stderr, env=isolated_env(self.directory),
            text=True)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(30) or not self.running():
            self.kill()
            raise AssertionError(f"worker {name} did not start: {self.lines} {self.stderr()}")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("tickgraph: ingesting kafka topic"):
                self._ready.set()
        self._ready.set()

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def running(self):
        return self.proc.poll() is None

    def ticks(self):
        """tickgraph_ingest_ticks_total of this worker, summed over its labels (0 if it does not
        answer)."""
        try:
            text = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2,
                                proxies={"http": None}).text
        except requests.RequestException:
            return 0.0
        return sum(v for (name, _), v in parse_prometheus(text).items()
                   if name == "tickgraph_ingest_ticks_total")

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=60):
        """SIGTERM; requires exit 0 and the "tickgraph: stopped" line."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"worker {self.name} did not stop within {timeout} s")
        self._reader.join(5)
        self._stderr.close()
        assert rc == 0, f"worker {self.name} exited {rc}: {self.stderr()}"
        assert "tickgraph: stopped" in self.lines, f"{self.name}: {self.lines}"


class StreamWatcher(threading.Thread):
    """A WebSocket client of /v1/stream following every symbol at 1m twice: the candles (no
    graph) and graph `chain`. Records what it receives; every snapshot and final update is
    parsed into its Protobuf message."""

    def __init__(self, port, names):
        super().__init__(daemon=True)
        self.port = port
        self.names = names
        self.stop_event = threading.Event()
        self.snapshots = 0
        self.errors = []
        self.lags = 0
        self.messages = 0
        self.seen = defaultdict(set)  # graph ("" or "chain") -> symbols with an update
        self.seen_after_kill = defaultdict(set)
        self.killed = False
        self.finals = []  # (symbol, graph, candle dict, values dict)
        self.failure = None

    def run(self):
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by the test through self.failure
            self.failure = e

    async def _main(self):
        async with websockets.connect(f"ws://127.0.0.1:{self.port}/v1/stream",
                                      ping_interval=None, max_size=None) as ws:
            for graph in ("", "chain"):
                sub = {"assets": self.names, "interval": "INTERVAL_1M", "history": 1}
                if graph:
                    sub["graph"] = graph
                await ws.send(json.dumps({"subscribe": sub}))
            while not self.stop_event.is_set():
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                self._handle(text)

    def _handle(self, text):
        self.messages += 1
        data = json.loads(text)
        if "update" in data:
            u = data["update"]
            graph = u.get("graph", "")
            self.seen[graph].add(u["symbol"])
            if self.killed:
                self.seen_after_kill[graph].add(u["symbol"])
            if u.get("final"):
                contract().parse(text, "tickgraph.v1.StreamMessage")
                self.finals.append((u["symbol"], graph, u["candle"], u.get("values", {})))
        elif "lag" in data:
            self.lags += 1
        elif "snapshot" in data:
            contract().parse(text, "tickgraph.v1.StreamMessage")
            self.snapshots += 1
        else:
            self.errors.append(text[:500])


def watermarks(bootstrap):
    """{partition: (low, high)} of the topic."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap,
                                         "group.id": f"scaleout-probe-{uuid.uuid4()}",
                                         "enable.auto.commit": False, "log_level": 3})
    try:
        meta = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC]
        return {p: consumer.get_watermark_offsets(confluent_kafka.TopicPartition(TOPIC, p),
                                                  timeout=10)
                for p in sorted(meta.partitions)}
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------
# Oracles


def per_symbol(url):
    """{symbol: ticks stored}, every symbol of the run included."""
    out = dict.fromkeys(symbols(N_SYMBOLS), 0)
    for line in psql(url, "SELECT a.symbol, count(*) FROM ticks t JOIN assets a "
                          "ON a.id = t.asset_id GROUP BY a.symbol").split():
        symbol, n = line.split(",")
        out[symbol] = int(n)
    return out


def tick_frame(ticks):
    df = pd.DataFrame(ticks, columns=["symbol", "time", "price", "size"])
    df["time"] = df["time"].astype("int64")
    return df


def expected_candles(ticks_df):
    """{interval: DataFrame indexed by (symbol, time) with open, high, low, close, volume}."""
    out = {}
    for name, length in INTERVALS.items():
        df = ticks_df.assign(bar=ticks_df["time"] // length * length)
        g = df.groupby(["symbol", "bar"], sort=True)
        out[name] = pd.DataFrame({"open": g["price"].first(), "high": g["price"].max(),
                                  "low": g["price"].min(), "close": g["price"].last(),
                                  "volume": g["size"].sum()}).rename_axis(["symbol", "time"])
    return out


def same_number(a, b):
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


# --------------------------------------------------------------------------------------------
# The test


@pytest.fixture
def pg_url():
    base = os.environ.get("TICKGRAPH_TEST_PG_URL")
    if not base:
        pytest.skip("needs PostgreSQL: run under scripts/pg-test.sh")
    url, name = fresh_database(base)
    yield url
    subprocess.run(["psql", "-X", "-q", base, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   capture_output=True, timeout=60)


def test_three_workers_one_killed_equal_one_process_in_pull_mode(tmp_path, pg_url):
    """3 workers in one group ingest 1,000,000 ticks of 50 symbols, one is SIGKILLed at 300,000
    and a fourth joins: PostgreSQL then holds exactly the produced ticks, the pandas OHLCV bars
    (none missing or extra) and, for every 1m bar, the graph's values that pull mode computes; a
    WebSocket client of a stateless API node saw updates of all 50 symbols."""
    started = time.monotonic()
    figures = {}
    contract()  # generated here, before threads use it
    names = symbols(N_SYMBOLS)
    ticks = make_ticks(N_SYMBOLS, N_TICKS, SEED, start_ns=TICKS_START_NS, step_ns=SPAN // N_TICKS)
    ticks_df = tick_frame(ticks)
    want = expected_candles(ticks_df)
    bars_1m = len(want["1m"])
    assert bars_1m < 5000 * N_SYMBOLS and want["1m"].groupby(level=0).size().max() < 5000
    kafka_config = KAFKA_CONFIG if kafka_config_supported() else {}
    figures["kafka_config"] = kafka_config or "librdkafka defaults (no --kafka-config)"

    spec = tmp_path / "chain.yaml"
    spec.write_text(CHAIN)
    tickgraph(tmp_path, "graph", "put", "chain", spec, "--db", pg_url)

    workers = []
    api_node = None
    watcher = None
    with NatsServer() as nats, MockKafka(brokers=1, topics={TOPIC: PARTITIONS}) as kafka:
        try:
            api_node = Server(tmp_path / "api", "--no-engine", "--nats", nats.url,
                              "--no-simulate", db=pg_url)
            api = Api(api_node.base)
            for i in range(3):
                workers.append(Worker(tmp_path, f"worker{i + 1}", kafka.bootstrap, pg_url,
                                      nats.url, kafka_config))

            produced = {}

            def producer():
                try:
                    t = time.monotonic()
                    produced["count"] = produce(kafka.bootstrap, TOPIC, ticks, timeout=120)
                    produced["seconds"] = time.monotonic() - t
                except BaseException as e:
                    produced["error"] = e

            production = threading.Thread(target=producer, daemon=True)
            t_produce = time.monotonic()
            production.start()

            # Subscribe once the workers have created every asset (unknown ones are refused).
            wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM assets") == N_SYMBOLS, 120,
                     "the workers to create the 50 assets", 0.2)
            watcher = StreamWatcher(api_node.port, names)
            watcher.start()
            wait_for(lambda: watcher.snapshots == 2 or watcher.errors or watcher.failure, 30,
                     "the two snapshots")
            assert not watcher.errors and not watcher.failure, (watcher.errors, watcher.failure)

            # Kill, with SIGKILL, a worker that holds partitions, once 300,000 ticks are stored.
            wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM ticks") >= KILL_AT // 3, 180,
                     f"{KILL_AT // 3} ticks in PostgreSQL", 0.2)
            t_third, stored_third = time.monotonic(), scalar(pg_url, "SELECT count(*) FROM ticks")
            wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM ticks") >= KILL_AT, 180,
                     f"{KILL_AT} ticks in PostgreSQL", 0.2)
            by_worker = [w.ticks() for w in workers]
            victim = workers[max(range(3), key=lambda k: by_worker[k])]
            assert max(by_worker) > 0, f"no worker has ingested anything: {by_worker}"
            victim.kill()
            t_kill = time.monotonic()
            watcher.killed = True
            at_kill = per_symbol(pg_url)
            stored_at_kill = sum(at_kill.values())
            figures["stored_at_kill"] = stored_at_kill
            figures["ticks_per_second_into_pg_3_workers"] = round(
                (stored_at_kill - stored_third) / (t_kill - t_third))
            figures["worker_ticks_at_kill"] = by_worker
            figures["victim"] = victim.name
            assert stored_at_kill < N_TICKS, "the run was over before the kill"
            workers.append(Worker(tmp_path, "worker4", kafka.bootstrap, pg_url, nats.url,
                                  kafka_config))
            # The killed worker's symbols stall until the group gives its partitions to another.
            time.sleep(2)
            later = per_symbol(pg_url)
            stalled = [s for s in names if later[s] == at_kill[s] < N_TICKS // N_SYMBOLS]
            figures["symbols_stalled_by_the_kill"] = len(stalled)
            wait_for(lambda: all(v > at_kill[s] for s, v in per_symbol(pg_url).items()
                                 if s in stalled), 200, "the killed worker's symbols to resume",
                     0.5)
            figures["seconds_until_they_resume"] = round(time.monotonic() - t_kill, 1)

            production.join(180)
            assert not production.is_alive(), "production did not finish within 180 s"
            assert "error" not in produced, produced.get("error")
            assert produced["count"] == N_TICKS
            figures["produce_seconds"] = round(produced["seconds"], 1)
            # Nothing was lost to the mock's retention.
            marks = watermarks(kafka.bootstrap)
            assert all(low == 0 for low, _ in marks.values()), marks
            assert sum(high for _, high in marks.values()) == N_TICKS, marks

            wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM ticks") >= N_TICKS, 200,
                     "every tick in PostgreSQL", 0.5)
            t_all = time.monotonic()
            figures["ticks_per_second_into_pg"] = round(N_TICKS / (t_all - t_produce))
            figures["seconds_from_kill_to_all_ticks"] = round(t_all - t_kill, 1)

            # Every bar closes once the feed is idle (--idle-close 2000) and is stored; the
            # analytics follow their bar.
            def counts():
                return tuple(scalar(pg_url, f"SELECT count(*) FROM candles WHERE interval = "
                                            f"'{i}'") for i in INTERVALS)
            expected_counts = tuple(len(want[i]) for i in INTERVALS)
            wait_for(lambda: counts() == expected_counts, 60, f"candle counts {expected_counts}",
                     0.5)
            pulled_one = api.get(f"/v1/assets/{names[0]}/analytics",
                                 params={"graph": "chain", "interval": "1m"},
                                 message="tickgraph.v1.AnalyticsResult").data
            outputs = [s["name"] for s in pulled_one["series"]]
            expected_rows = bars_1m * len(outputs)
            wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM analytics") >= expected_rows,
                     60, f"{expected_rows} analytics rows", 0.5)
            t_done = time.monotonic()
            figures["seconds_from_kill_to_all_stored"] = round(t_done - t_kill, 1)
            time.sleep(3)  # anything still to come would come now
            assert counts() == expected_counts
            figures["worker_ticks_at_end"] = {w.name: w.ticks() for w in workers
                                              if w is not victim}
            watcher.stop_event.set()
            watcher.join(10)
            assert watcher.failure is None, watcher.failure

            survivors = [w for w in workers if w is not victim]
            for w in survivors:
                assert w.running(), f"{w.name} exited: {w.stderr()}"
                w.stop()
            # Pull mode: one process computing the graph over the stored candles.
            t = time.monotonic()
            pulled_bodies = {symbol: api_get_analytics(api_node.base, symbol)
                             for symbol in names}
            figures["pull_seconds_50_symbols"] = round(time.monotonic() - t, 2)
            api_node.stop()
        finally:
            if watcher is not None:
                watcher.stop_event.set()
            for w in workers:
                w.kill()
            if api_node is not None:
                api_node.kill()

    # --- the stored ticks are the produced ticks, once each
    stored_ticks = query_frame(
        pg_url, "SELECT a.symbol, t.time, t.price, t.size FROM ticks t JOIN assets a "
                "ON a.id = t.asset_id", ["symbol", "time", "price", "size"])
    stored_ticks = stored_ticks.astype({"time": "int64", "price": "float64", "size": "float64"})
    assert len(stored_ticks) == N_TICKS
    assert not stored_ticks.duplicated(["symbol", "time"]).any()
    merged = ticks_df.merge(stored_ticks, on=["symbol", "time"], how="outer",
                            suffixes=("", "_pg"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["price"] == merged["price_pg"]).all() and \
        (merged["size"] == merged["size_pg"]).all()

    # --- every candle equals pandas' bar; none missing, none extra
    stored = query_frame(
        pg_url, "SELECT a.symbol, c.interval, c.time, c.open, c.high, c.low, c.close, c.volume "
                "FROM candles c JOIN assets a ON a.id = c.asset_id",
        ["symbol", "interval", "time", "open", "high", "low", "close", "volume"])
    stored = stored.astype({"time": "int64", "open": "float64", "high": "float64",
                            "low": "float64", "close": "float64", "volume": "float64"})
    assert set(stored["interval"]) == set(INTERVALS)
    stored_candles = {}
    for name in INTERVALS:
        got = stored[stored["interval"] == name].set_index(["symbol", "time"]).sort_index()
        exp = want[name]
        assert not got.index.duplicated().any(), f"{name}: duplicated bars"
        missing = exp.index.difference(got.index)
        extra = got.index.difference(exp.index)
        assert missing.empty and extra.empty, \
            f"{name}: {len(missing)} bars missing ({list(missing[:5])}), {len(extra)} extra " \
            f"({list(extra[:5])})"
        got = got.loc[exp.index]
        for col in ("open", "high", "low", "close", "volume"):
            bad = [(k, a, b) for k, a, b in zip(exp.index, got[col], exp[col])
                   if not same_number(a, b)]
            assert not bad, f"{name} {col}: {len(bad)} differ, first {bad[:5]}"
        stored_candles[name] = got

    # --- every final analytics value equals pull mode over the same bars
    rows = query_frame(
        pg_url, "SELECT a.symbol, g.name, n.output, n.time, n.value FROM analytics n "
                "JOIN assets a ON a.id = n.asset_id JOIN graphs g ON g.graph_id = n.graph_id",
        ["symbol", "graph", "output", "time", "value"])
    assert set(rows["graph"]) == {"chain"}
    rows["time"] = rows["time"].astype("int64")
    materialised = {(s, o, t): (None if v == "" else float(v))
                    for s, o, t, v in zip(rows["symbol"], rows["output"], rows["time"],
                                          rows["value"])}
    assert len(materialised) == len(rows), "duplicated analytics rows"
    pulled = {}
    for symbol in names:
        body = pulled_bodies[symbol]
        ts = [int(t) for t in body["ts"]]
        assert ts == [t for t in want["1m"].loc[symbol].index], f"{symbol}: pulled bar times"
        for s in body["series"]:
            for t, v in zip(ts, s["values"]):
                pulled[(symbol, s["name"], t)] = v
    missing = set(pulled) - set(materialised)
    extra = set(materialised) - set(pulled)
    assert not missing and not extra, \
        f"{len(missing)} analytics rows missing (first {sorted(missing)[:5]}), {len(extra)} " \
        f"extra (first {sorted(extra)[:5]})"
    differ = [(k, materialised[k], v) for k, v in pulled.items() if materialised[k] != v]
    if differ:
        worst = max((abs(a - b) / max(abs(b), 1e-300), k) for k, a, b in differ
                    if a is not None and b is not None) if any(
            a is not None and b is not None for _, a, b in differ) else None
        pytest.fail(f"{len(differ)} of {len(pulled)} analytics values differ from pull mode; "
                    f"first {differ[:5]}; worst relative difference {worst}")
    figures["analytics_values_compared"] = len(pulled)
    figures["non_null_values"] = sum(v is not None for v in pulled.values())

    # --- the stream: updates of all 50 symbols, also after the kill, and final = stored
    figures["stream_messages"] = watcher.messages
    figures["stream_lag_notices"] = watcher.lags
    figures["stream_finals"] = len(watcher.finals)
    assert not watcher.errors, watcher.errors[:3]
    for graph in ("", "chain"):
        assert watcher.seen[graph] == set(names), \
            f"graph {graph!r}: no updates of {sorted(set(names) - watcher.seen[graph])}"
        unfinished = {s for s in names if at_kill[s] < N_TICKS // N_SYMBOLS}
        assert unfinished <= watcher.seen_after_kill[graph], \
            f"graph {graph!r}: no updates after the kill of " \
            f"{sorted(unfinished - watcher.seen_after_kill[graph])}"
    candles_1m = stored_candles["1m"]
    final_times = defaultdict(list)
    for symbol, graph, candle, values in watcher.finals:
        t = int(candle["time"])
        final_times[(symbol, graph)].append(t)
        assert (symbol, t) in candles_1m.index, f"final update of an unknown bar {symbol} {t}"
        row = candles_1m.loc[(symbol, t)]
        for col in ("open", "high", "low", "close", "volume"):
            assert same_number(float(candle.get(col, 0.0)), row[col]), \
                (symbol, graph, t, col, candle, dict(row))
        if graph == "chain":
            for name in outputs:
                assert values.get(name) == pulled[(symbol, name, t)], (symbol, t, name, values)
    # Bars whose final update the client did not see, between its first and the last bar.
    gaps = 0
    repeated = 0
    for (symbol, graph), times in final_times.items():
        all_times = list(want["1m"].loc[symbol].index)
        after = [t for t in all_times if t >= min(times)]
        gaps += len(set(after) - set(times))
        repeated += len(times) - len(set(times))
    figures["stream_final_bars_not_seen"] = gaps
    figures["stream_final_bars_repeated"] = repeated
    figures["test_seconds"] = round(time.monotonic() - started, 1)
    print("\nscale-out figures:", json.dumps(figures, indent=1, default=str))


def api_get_analytics(base, symbol):
    r = requests.get(f"{base}/v1/assets/{symbol}/analytics",
                     params={"graph": "chain", "interval": "1m"}, timeout=60,
                     proxies={"http": None})
    assert r.status_code == 200, r.text[:300]
    contract().parse(r.text, "tickgraph.v1.AnalyticsResult")
    return r.json()
