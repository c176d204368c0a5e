#!/usr/bin/python3
"""Tick-to-WebSocket latency of `tickgraph serve` fed by Kafka, against the issue's target:

    p99 tick-to-WebSocket latency <= 20 ms at 50,000 ticks/s   (a 2-core machine)

Each run starts a mock Kafka cluster (kafka_mock, one broker, one topic `ticks` of 4 partitions)
and `tickgraph serve --no-simulate --kafka-brokers … --kafka-topic ticks` on a fresh SQLite
database, creates the symbols (POST /v1/assets), and subscribes one WebSocket client (its own
process) to all of them at INTERVAL_1S. Then build/bin/tick_feed (bench/tick_feed.cc, a C++
producer, so that the harness leaves the cores to what it measures) produces ticks at a paced
rate (a burst every millisecond, linger.ms --linger-ms), each stamped with the wall clock at the
moment it is produced, and reports every send time.

Every tick is identified by its price: per symbol, tick number n has price 100 + n * 1e-6. An
update's candle close is the price of the last tick the bar included, so an update whose close is
tick n delivers every tick of its symbol from the previous update's close (exclusive) to n; each
of them gets latency = the client's wall clock when the message arrived - the tick's send time.
So every tick is measured, not only the last of a server batch, and coalesced updates (a slow
client) are measured as what they are: the later update delivers more ticks. A tick whose bar had
closed before it arrived (a late tick: the server stores it but no bar includes it) is counted
separately, not given the latency of a later bar. Ticks sent during the warm-up are not measured.

The reference, measured in the same run: a plain confluent_kafka consumer (its own process, its
own group id, partitions assigned by hand, fetch.wait.max.ms --fetch-wait-ms) reading the same
topic, with latency = wall clock when poll() returned the message - its send time. tickgraph
minus that is what the server adds. Both consumers, the producer, the WebSocket client, the broker
and the server share the machine's cores; the CPU each used during the measurement is printed to
show how the cores were split.

kafka_mock is not a broker: a Fetch that finds no new data is answered only after the consumer's
fetch.wait.max.ms (librdkafka's default 500 ms), even when data arrives meanwhile, and a Fetch
returns at most one produce batch per partition. A consumer that keeps up therefore waits up to
fetch.wait.max.ms for each tick unless that is small; the server's consumer gets --fetch-wait-ms
through `serve --kafka-config` (tickgraph's own default is 10 ms; the header and the summary say
which was used). Larger produce batches (--linger-ms, 5) let one Fetch
carry more.

It reports and never fails on a slow result (benchmarks are not tests); it exits non-zero only
when it cannot run.

run:  /usr/bin/python3 bench/ingest_latency.py [--rate 50000] [--seconds 20] [--symbols 50]
                                               [--warmup 5] [--runs 3] [--linger-ms 5]
                                               [--fetch-wait-ms 1] [--no-reference]
      /usr/bin/python3 bench/ingest_latency.py --quick        (5,000 ticks/s for 5 s, one run)
env:  TICKGRAPH_BIN (default build/bin/tickgraph), TICKGRAPH_KAFKA_MOCK (build/bin/kafka_mock),
      TICKGRAPH_TICK_FEED (build/bin/tick_feed)
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

import confluent_kafka  # noqa: E402
import feeds  # noqa: E402
import server_harness  # noqa: E402

TARGET_P99_MS = 20.0
TOPIC = "ticks"
PARTITIONS = 4
BASE_PRICE = 100.0
PRICE_STEP = 1e-6  # tick n of a symbol has price BASE_PRICE + n * PRICE_STEP
INTERVAL = "INTERVAL_1S"
BAR_NS = 10**9
DRAIN_SECONDS = 3.0  # after the last tick, how long the client keeps reading


def price_of(n):
    return BASE_PRICE + n * PRICE_STEP


def tick_number(price):
    """The tick number a price encodes, or None when it is not one of ours."""
    n = round((price - BASE_PRICE) / PRICE_STEP)
    return n if n >= 0 and abs(price_of(n) - price) < PRICE_STEP / 10 else None


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# The WebSocket client (a process of its own)


def ws_client(port, symbols, ready, all_seen, stop, results):
    """Subscribes to `symbols`; sets `ready` at the snapshot and `all_seen` once every symbol had
    an update; reads until `stop`, then puts [(recv_ns, text)] of every update and the count of
    other messages on `results`. The receive loop only stamps and keeps the text: parsing waits
    until the end."""

    async def run():
        import websockets
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream", max_size=None,
                                      ping_interval=None) as conn:
            await conn.send(json.dumps({"subscribe": {"assets": symbols, "interval": INTERVAL}}))
            first = json.loads(await asyncio.wait_for(conn.recv(), 30))
            if "snapshot" not in first:
                raise RuntimeError(f"expected a snapshot, got {str(first)[:300]}")
            ready.set()
            received = []
            seen = set()
            other = {}

            async def read():  # a plain recv() per message: a timeout on each would cost more
                while True:
                    text = await conn.recv()
                    now = time.time_ns()
                    if text.startswith('{"update"'):
                        received.append((now, text))
                        if not all_seen.is_set():
                            seen.add(json.loads(text)["update"]["symbol"])
                            if len(seen) == len(symbols):
                                all_seen.set()
                    else:
                        kind = next(iter(json.loads(text)), "?")
                        other[kind] = other.get(kind, 0) + 1

            reader = asyncio.ensure_future(read())
            while not stop.is_set() and not reader.done():
                await asyncio.sleep(0.2)
            if reader.done():
                reader.result()  # the connection failed: raise its error
            reader.cancel()
            return received, other

    try:
        received, other = asyncio.run(run())
        results.put(("ok", received, other))
    except Exception as e:  # reported by the parent
        ready.set()
        results.put(("error", repr(e), {}))


# --------------------------------------------------------------------------------------------
# The reference: a plain Kafka consumer (a process of its own)


def reference_consumer(bootstrap, fetch_wait_ms, ready, stop, results):
    """Reads TOPIC from its end on every partition until `stop`; puts (send_ns, recv_ns) arrays
    of every tick read on `results`."""
    tick = feeds.tick_message("X", 0, 1.0, 1.0)
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"ingest-latency-reference-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "latest",
        "fetch.wait.max.ms": fetch_wait_ms,
        **feeds._CLIENT_LOG,
    })
    consumer.assign([confluent_kafka.TopicPartition(TOPIC, p, confluent_kafka.OFFSET_END)
                     for p in range(PARTITIONS)])
    sent, got = [], []
    ready.set()
    try:
        while not stop.is_set():
            # consume(n, timeout) waits for n messages or the timeout: wait for one with poll(),
            # then take what else is queued without waiting.
            first = consumer.poll(0.1)
            if first is None:
                continue
            now = time.time_ns()
            for msg in [first, *consumer.consume(10000, 0)]:
                if msg.error() is not None:
                    continue
                tick.ParseFromString(msg.value())
                sent.append(tick.time)
                got.append(now)
    finally:
        consumer.close()
    results.put((np.array(sent, dtype=np.int64), np.array(got, dtype=np.int64)))


# --------------------------------------------------------------------------------------------
# The producer (build/bin/tick_feed, driven by lines; see bench/tick_feed.cc)

TICK_FEED = Path(os.environ.get("TICKGRAPH_TICK_FEED",
                                Path(__file__).resolve().parents[1] / "build/bin/tick_feed"))


class Feed:
    """tick_feed for one run: the probe ticks at start, then go() paces the warm-up and the
    measured window."""

    def __init__(self, bootstrap, symbols, args, tmp):
        self.symbols = symbols
        self.times_path = Path(tmp) / "send-times.bin"
        self.proc = subprocess.Popen(
            [str(TICK_FEED), "--brokers", bootstrap, "--topic", TOPIC,
             "--symbols", ",".join(symbols), "--rate", str(args.rate), "--warmup",
             str(args.warmup), "--seconds", str(args.seconds), "--linger-ms",
             str(int(args.linger_ms)), "--times", str(self.times_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.expect("probed")

    def expect(self, word):
        line = self.proc.stdout.readline().split()
        if not line or line[0] != word:
            raise RuntimeError(f"tick_feed: expected {word!r}, got {line} (exit "
                               f"{self.proc.poll()})")
        return line[1:]

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def sent_ns(self):
        """Per symbol, the send time of its tick n at [n] (tick 0 is the probe)."""
        times = np.fromfile(self.times_path, dtype=np.int64)
        n = len(self.symbols)
        return [times[k::n].tolist() for k in range(n)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# --------------------------------------------------------------------------------------------
# The measurement


def percentiles(values_ms):
    if len(values_ms) == 0:
        return {k: float("nan") for k in ("p50", "p90", "p99", "max", "mean")}
    p50, p90, p99 = np.percentile(values_ms, [50, 90, 99])
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(np.max(values_ms)),
            "mean": float(np.mean(values_ms))}


def tick_latencies(symbols, sent_ns, received, window):
    """Latency (ms) of every tick sent within `window` (lo, hi ns) that an update delivered,
    and counts of what else was seen."""
    index = {s: i for i, s in enumerate(symbols)}
    delivered_upto = [0] * len(symbols)  # tick 0 of each symbol is the readiness probe
    last_final = [-1] * len(symbols)  # the start of the last bar of each symbol that closed
    lo, hi = window
    latencies = []
    counts = {"updates": 0, "final": 0, "foreign": 0, "late": 0, "stale": 0}
    for recv_ns, text in received:
        update = json.loads(text)["update"]
        if update.get("interval") != INTERVAL or update["symbol"] not in index:
            continue
        counts["updates"] += 1
        counts["final"] += bool(update.get("final"))
        k = index[update["symbol"]]
        candle = update["candle"]
        if update.get("final"):
            last_final[k] = max(last_final[k], int(candle["time"]))
        n = tick_number(candle["close"])
        if n is None or n >= len(sent_ns[k]):
            counts["foreign"] += 1
            continue
        if n <= delivered_upto[k]:
            counts["stale"] += 1  # nothing new (a final bar repeats its last forming close)
            continue
        bar = int(candle["time"])
        times = sent_ns[k]
        for j in range(delivered_upto[k] + 1, n + 1):
            t = times[j]
            if not lo <= t < hi:
                continue
            if t // BAR_NS * BAR_NS < bar:  # its own bar closed without it
                counts["late"] += 1
                continue
            latencies.append((recv_ns - t) / 1e6)
        delivered_upto[k] = n
    # Ticks after the last close of their symbol: late too when their bar closed without them.
    for k, times in enumerate(sent_ns):
        for t in times[delivered_upto[k] + 1:]:
            if lo <= t < hi and t // BAR_NS * BAR_NS <= last_final[k]:
                counts["late"] += 1
    in_window = sum(int(np.count_nonzero((np.array(t) >= lo) & (np.array(t) < hi)))
                    for t in sent_ns)
    counts["undelivered"] = in_window - len(latencies) - counts["late"]
    counts["in_window"] = in_window
    return np.array(latencies), counts


def histogram_summary(before, after, name):
    """(count, mean s, p50 s, p99 s) of a Prometheus histogram between two scrapes; the
    percentiles are the upper bounds of the buckets they fall in."""
    def buckets(samples):
        out = {}
        for (metric, labels), value in samples.items():
            if metric == name + "_bucket":
                le = dict(labels)["le"]
                out[float("inf") if le == "+Inf" else float(le)] = value
        return out
    b0, b1 = buckets(before), buckets(after)
    count = server_harness.metric(after, name + "_count") - server_harness.metric(before,
                                                                               name + "_count")
    total = server_harness.metric(after, name + "_sum") - server_harness.metric(before,
                                                                             name + "_sum")
    if count <= 0:
        return 0, float("nan"), float("nan"), float("nan")
    cumulative = sorted((le, b1[le] - b0.get(le, 0.0)) for le in b1)

    def quantile(q):
        for le, c in cumulative:
            if c >= q * count:
                return le
        return float("inf")
    return count, total / count, quantile(0.5), quantile(0.99)


def scrape(server):
    r = server_harness.requests.get(server.base + "/metrics", timeout=10)
    r.raise_for_status()
    return server_harness.parse_prometheus(r.text)


def one_run(args, run, ctx):
    symbols = feeds.symbols(args.symbols)
    feed = None
    with tempfile.TemporaryDirectory(prefix="tickgraph-ingest-latency-") as tmp, \
            feeds.MockKafka(brokers=1, topics={TOPIC: PARTITIONS}) as kafka:
        server = server_harness.Server(tmp, "--no-simulate", "--kafka-brokers", kafka.bootstrap,
                                       "--kafka-topic", TOPIC, *args.server_kafka_config)
        procs = []
        try:
            api = server_harness.Api(server.base)
            for s in symbols:
                api.post("/v1/assets", {"symbol": s}, expect=201, message="tickgraph.v1.Asset")

            stop = ctx.Event()
            ws_ready, all_seen, ws_results = ctx.Event(), ctx.Event(), ctx.Queue()
            client = ctx.Process(target=ws_client, args=(server.port, symbols, ws_ready,
                                                         all_seen, stop, ws_results))
            client.start()
            procs.append(client)
            reference = None
            if args.reference:
                ref_ready, ref_results = ctx.Event(), ctx.Queue()
                reference = ctx.Process(target=reference_consumer,
                                        args=(kafka.bootstrap, args.fetch_wait_ms,
                                              ref_ready, stop, ref_results))
                reference.start()
                procs.append(reference)
                if not ref_ready.wait(30):
                    raise RuntimeError("the reference consumer did not start within 30 s")
            if not ws_ready.wait(30):
                raise RuntimeError("the WebSocket client had no snapshot within 30 s")

            # Readiness: tick 0 of every symbol, until the client has an update of each (the
            # server's consumer joins its group first: about 3 s against the mock).
            feed = Feed(kafka.bootstrap, symbols, args, tmp)
            if not all_seen.wait(60):
                raise RuntimeError("no update of every symbol within 60 s of the first ticks: "
                                   + server.stderr()[-1000:])

            feed.go()  # the warm-up, then the window
            lo = int(feed.expect("window")[0])
            metrics_before = scrape(server)
            pids = {"server": server.proc.pid, "kafka_mock": kafka.proc.pid,
                    "ws client": client.pid, "producer": feed.proc.pid}
            if reference:
                pids["reference"] = reference.pid
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            end = feed.expect("end")
            hi, sent, elapsed, behind = int(end[0]), int(end[1]), float(end[2]), int(end[3])
            cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
            metrics_after = scrape(server)
            undelivered, failed = (int(x) for x in feed.expect("done"))
            sent_ns = feed.sent_ns()
            time.sleep(DRAIN_SECONDS)
            stop.set()
            status, received, other = ws_results.get(timeout=60)
            if status != "ok":
                raise RuntimeError(f"the WebSocket client failed: {received}")
            ref_ms = np.array([])
            if reference:
                ref_sent, ref_got = ref_results.get(timeout=60)
                keep = (ref_sent >= lo) & (ref_sent < hi)
                ref_ms = (ref_got[keep] - ref_sent[keep]) / 1e6
            for p in procs:
                p.join(10)
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join()
            if feed is not None:
                feed.close()
            server.stop()

    latencies, counts = tick_latencies(symbols, sent_ns, received, (lo, hi))
    push = histogram_summary(metrics_before, metrics_after, "tickgraph_push_update_seconds")

    def delta(name, **labels):
        return server_harness.metric(metrics_after, name, **labels) - \
            server_harness.metric(metrics_before, name, **labels)

    window_s = (hi - lo) / 1e9
    result = {
        "rate": sent / elapsed, "behind": behind, "sent": sent, "undelivered_kafka": undelivered,
        "failed_kafka": failed, "counts": counts, "other": other, "ws": percentiles(latencies),
        "ref": percentiles(ref_ms), "ref_n": len(ref_ms), "push": push,
        "server_late": delta("tickgraph_ingest_late_ticks_total", source="kafka"),
        "server_ticks": delta("tickgraph_ingest_ticks_total", source="kafka"),
        "coalesced": delta("tickgraph_stream_coalesced_total"),
        "cpu": {k: (cpu1[k] - cpu0[k]) / window_s for k in cpu0},
    }
    report_run(run, result)
    return result


def fmt_ms(v):
    return f"{v:7.2f}"


def report_run(run, r):
    c, ws, ref = r["counts"], r["ws"], r["ref"]
    print(f"run {run}: {r['rate']:,.0f} ticks/s produced ({r['sent']:,} ticks; at most "
          f"{r['behind']} behind schedule; {r['undelivered_kafka']} unflushed, "
          f"{r['failed_kafka']} failed); server ingested {r['server_ticks']:,.0f} in the window")
    print(f"  tick->WS  ({c['in_window'] - c['late'] - c['undelivered']:,} ticks measured of "
          f"{c['in_window']:,}; {c['late']} late, {c['undelivered']} never delivered): "
          f"p50 {ws['p50']:.2f}  p90 {ws['p90']:.2f}  p99 {ws['p99']:.2f}  max {ws['max']:.2f}"
          f"  mean {ws['mean']:.2f} ms")
    print(f"  updates: {c['updates']:,} at 1s ({c['final']:,} final, {c['stale']:,} with no new "
          f"tick, {c['foreign']} unmatched); other messages {r['other'] or 'none'}; "
          f"coalesced by the server {r['coalesced']:,.0f}; late ticks (server) "
          f"{r['server_late']:,.0f}")
    if r["ref_n"]:
        print(f"  Kafka only ({r['ref_n']:,} ticks): p50 {ref['p50']:.2f}  p90 {ref['p90']:.2f}"
              f"  p99 {ref['p99']:.2f}  max {ref['max']:.2f} ms")
    count, mean, p50, p99 = r["push"]
    print(f"  server tickgraph_push_update_seconds: {count:,.0f} batches/clock steps, mean "
          f"{mean * 1e3:.2f} ms, p50 <= {p50 * 1e3:g} ms, p99 <= {p99 * 1e3:g} ms (bucket bounds)")
    print("  CPU (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items()))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50000, help="ticks/s in all (50000)")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds (20)")
    parser.add_argument("--symbols", type=int, default=50, help="symbols (50)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before measuring (5)")
    parser.add_argument("--runs", type=int, default=3, help="runs, each on a fresh server (3)")
    parser.add_argument("--no-reference", dest="reference", action="store_false",
                        help="no Kafka-only consumer (it shares the cores with the server)")
    parser.add_argument("--linger-ms", type=float, default=5,
                        help="the producer's linger.ms (5)")
    parser.add_argument("--fetch-wait-ms", type=int, default=1, metavar="MS",
                        help="fetch.wait.max.ms of the Kafka-only consumer, and of the server's "
                             "when `serve` has --kafka-config (1)")
    parser.add_argument("--quick", action="store_true",
                        help="check that it works: 5,000 ticks/s, 5 s, one run")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.runs = 5000, 5, 1
    server_help = subprocess.run([str(server_harness.BIN), "serve", "--help"],
                                 capture_output=True, text=True).stdout
    if "--kafka-config" in server_help:
        args.server_kafka_config = ["--kafka-config", f"fetch.wait.max.ms={args.fetch_wait_ms}"]
        server_fetch_wait = f"{args.fetch_wait_ms} ms (--kafka-config)"
    else:
        args.server_kafka_config = []
        server_fetch_wait = ("tickgraph's default 10 ms (this `serve` has no --kafka-config); "
                             "kafka_mock holds a fetch that finds no new data for that long")
    args.server_fetch_wait = server_fetch_wait

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    cpu_model = next((line.split(":", 1)[1].strip() for line in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "unknown CPU")
    print(f"machine: {os.cpu_count()} cores ({cpu_model}); load average {load}")
    print("         the server, kafka_mock, the producer (tick_feed), the WebSocket client and the "
          "reference consumer share these cores")
    print(f"binary:  {server_harness.BIN}")
    print(f"feed:    {args.rate:,.0f} ticks/s over {args.symbols} symbols ({TOPIC}: {PARTITIONS} "
          f"partitions, keyed by symbol), {args.warmup:g} s warm-up + {args.seconds:g} s "
          f"measured, {args.runs} run(s); one WebSocket client on every symbol at {INTERVAL}")
    print(f"kafka:   kafka_mock, 1 broker; producer linger.ms {args.linger_ms:g}; fetch.wait.max.ms"
          f" of the Kafka-only consumer {args.fetch_wait_ms} ms, of the server's "
          f"{server_fetch_wait}")
    print()
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    runs = [one_run(args, i + 1, ctx) for i in range(args.runs)]

    def med(get):
        return statistics.median(get(r) for r in runs)

    ws_p50, ws_p90 = med(lambda r: r["ws"]["p50"]), med(lambda r: r["ws"]["p90"])
    ws_p99, ws_max = med(lambda r: r["ws"]["p99"]), med(lambda r: r["ws"]["max"])
    rate = med(lambda r: r["rate"])
    measured = med(lambda r: r["counts"]["in_window"] - r["counts"]["late"]
                   - r["counts"]["undelivered"])
    late = med(lambda r: r["counts"]["late"] / max(1, r["counts"]["in_window"]))
    lost = med(lambda r: r["counts"]["undelivered"])
    verdict = "met" if ws_p99 <= TARGET_P99_MS else "MISSED"
    print()
    print(f"summary (medians of {len(runs)} run(s); {time.monotonic() - started:.0f} s in all; "
          f"load average now {' '.join(Path('/proc/loadavg').read_text().split()[:3])})")
    rows = [("rate achieved", f"{rate:,.0f} ticks/s (asked {args.rate:,.0f})"),
            ("ticks measured", f"{measured:,.0f} per run; late (their bar closed first, so "
                               f"in no update) {late:.1%}; never delivered {lost:,.0f}"),
            ("tick->WS p50 / p90", f"{ws_p50:.2f} / {ws_p90:.2f} ms"),
            ("tick->WS p99 / max", f"{ws_p99:.2f} / {ws_max:.2f} ms")]
    if args.reference:
        ref_p50, ref_p99 = med(lambda r: r["ref"]["p50"]), med(lambda r: r["ref"]["p99"])
        rows += [("Kafka only p50 / p99", f"{ref_p50:.2f} / {ref_p99:.2f} ms (fetch.wait.max.ms "
                                          f"{args.fetch_wait_ms})"),
                 ("tickgraph - Kafka", f"p50 +{ws_p50 - ref_p50:.2f} ms, p99 "
                                       f"+{ws_p99 - ref_p99:.2f} ms"),
                 ("tickgraph / Kafka", f"p50 x{ws_p50 / ref_p50:.1f}, p99 x{ws_p99 / ref_p99:.1f}")]
    rows.append(("server's fetch wait", args.server_fetch_wait))
    rows.append(("target", f"p99 <= {TARGET_P99_MS:g} ms at 50,000 ticks/s: measured/target "
                           f"{ws_p99 / TARGET_P99_MS:.2f}, {verdict}"
                           + ("" if args.rate == 50000 else f" (this run: {args.rate:,.0f}/s)")))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"| {k:<{width}} | {v}")


if __name__ == "__main__":
    main()
