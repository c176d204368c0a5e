"""Market-data feeds for the end-to-end tests of the Kafka and NATS ingest: brokers that run on
this machine only, and the ticks to send through them.

- `MockKafka`: the `kafka_mock` tool (tests/tools/kafka_mock.cc), librdkafka's mock cluster in a
  child process, with brokers that can be taken down and brought up again. The mock keeps at most
  5 MB or 100,000 produce batches per partition and drops the oldest beyond that, auto-creates
  any topic a client asks about (4 partitions), and does not move partition leaders when a
  broker goes down (see `MockKafka.set_leader`); its class comment lists group timings.
- `tick_bytes`, `make_ticks`: tickgraph.v1.Tick messages (protobuf binary or the protobuf JSON
  mapping), and a deterministic generator of ticks at fixed times in the past.
- `produce`, `produce_raw`, `consume_all`: confluent_kafka clients that raise on any failure.
- `NatsServer`, `NatsCluster`: nats-server with JetStream, alone or as a cluster of routed nodes,
  on free ports of 127.0.0.1 with their storage in temporary directories; nodes can be killed
  (SIGKILL) and restarted on the same ports and storage.
- `nats_publish`, `NatsSubscriber`, `nats_subscribe_collect`: a raw client of the NATS text
  protocol (PUB/HPUB with JetStream acknowledgements, SUB and MSG/HMSG frames with headers).

Only Debian's /usr/bin/python3 is assumed (python3-confluent-kafka, python3-protobuf); there is no
NATS client, so NATS readiness is checked on the servers' HTTP monitoring port, and messages go
through the small client of the protocol at the end of this file.
"""

import calendar
import json
import math
import os
import queue
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import confluent_kafka

from server_harness import REPO, contract

NATS_SERVER = Path("/usr/sbin/nats-server")

# Ticks are stamped at fixed times, never from the wall clock: the same arguments give the same
# ticks on every run, whatever the date or the time of day, and they are in the past (tickgraph
# refuses a tick more than an hour ahead of its clock). The default start is Sunday 2024-03-03
# 22:00 UTC, two hours before a Monday 00:00 UTC, where tickgraph's weekly bars begin: data
# spanning more than two hours from it crosses a week boundary (and a day boundary).
TICKS_START_NS = calendar.timegm((2024, 3, 3, 22, 0, 0)) * 10**9


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now (the kernel's choice). Another
    process may take it before the caller binds it; callers that start servers retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1", timeout=0.5):
    """Whether a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it is true; raises TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Kafka


def kafka_mock_binary():
    """The kafka_mock executable: $TICKGRAPH_KAFKA_MOCK, else the default build directory."""
    env = os.environ.get("TICKGRAPH_KAFKA_MOCK")
    if env:
        return Path(env)
    # The project puts executables in build/bin; a build without that setting leaves them beside
    # their CMakeLists.txt.
    for candidate in (REPO / "build" / "bin" / "kafka_mock",
                      REPO / "build" / "tests" / "tools" / "kafka_mock"):
        if candidate.is_file():
            return candidate
    return REPO / "build" / "bin" / "kafka_mock"


class MockKafka:
    """A mock Kafka cluster in a `kafka_mock` child process, until stop() (or the end of the
    `with` block).

    `topics` maps names to partition counts (or is a list of (name, partitions)); create every
    topic here or with create_topic() before a client touches it. The mock creates an unknown
    topic, with 4 partitions, on any metadata request naming it: a producer's, and a consumer's
    too (it ignores allow.auto.create.topics=false). AdminClient.create_topics() is not
    supported by the mock and times out.

    What the mock does with consumer groups (librdkafka 2.0.2, measured): the first join is
    assigned after about 3 s (its initial rebalance delay); a member joining or leaving makes a
    rebalance that lasts about session.timeout.ms, and a member killed without leaving is noticed
    after about 1.5 x session.timeout.ms and its partitions reassigned after about 2x; tests
    should use session.timeout.ms of 3000 and heartbeat.interval.ms of 300-500. Committed
    offsets are kept per group and a new member resumes from them. Each partition keeps at most
    5 MB or 100,000 produce batches and silently drops the oldest beyond that (the low
    watermark moves up): about 120,000 protobuf ticks per partition.
    """

    def __init__(self, brokers=3, topics=None, binary=None, start_timeout=10):
        self.binary = Path(binary) if binary else kafka_mock_binary()
        assert self.binary.is_file(), \
            f"kafka_mock not found at {self.binary}; build it or set TICKGRAPH_KAFKA_MOCK"
        self.brokers = brokers
        args = [str(self.binary), "--brokers", str(brokers)]
        for name, partitions in dict(topics or {}).items():
            args += ["--topic", f"{name}:{partitions}"]
        self._stderr = tempfile.TemporaryFile()
        self._lines = queue.Queue()
        self._lock = threading.Lock()  # one command and its answer at a time
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        line = self._next_line(start_timeout)
        if line is None or not line.startswith("bootstrap="):
            self.kill()
            raise RuntimeError(f"kafka_mock did not print its bootstrap line (got {line!r}): "
                               f"{self.stderr()}")
        self.bootstrap = line[len("bootstrap="):]

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # the process closed its stdout (exited)

    def _next_line(self, timeout):
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def stderr(self):
        """What kafka_mock (and librdkafka's log) wrote on stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def command(self, line, timeout=10):
        """Sends one command line and returns the answer; raises RuntimeError on `error: ...`."""
        with self._lock:
            assert self.proc.poll() is None, f"kafka_mock has exited: {self.stderr()}"
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self._next_line(timeout)
        if answer is None:
            raise RuntimeError(f"kafka_mock gave no answer to {line!r}: {self.stderr()}")
        if answer != "ok":
            raise RuntimeError(f"kafka_mock {line!r}: {answer}")
        return answer

    def broker_down(self, broker_id):
        """Broker `broker_id` (1..brokers) closes its connections and refuses new ones. Its
        partitions keep it as leader (the mock does not fail over), so they are unavailable
        until broker_up() or set_leader()."""
        self.command(f"down {broker_id}")

    def broker_up(self, broker_id):
        self.command(f"up {broker_id}")

    def create_topic(self, name, partitions):
        """Creates a topic; RuntimeError if it exists already."""
        self.command(f"topic {name}:{partitions}")

    def set_leader(self, topic, partition, broker_id):
        """Makes `broker_id` the partition's leader (-1: no leader), e.g. to fail over from a
        broker that is down. An unknown topic is created with the default partition count."""
        self.command(f"leader {topic} {partition} {broker_id}")

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        """Destroys the cluster (`quit`) and requires exit 0; idempotent."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"kafka_mock did not quit within {timeout} s")
        self._reader.join(5)
        rc = self.proc.returncode
        assert rc == 0, f"kafka_mock exited {rc}: {self.stderr()[-2000:]}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:  # do not hide the test's own failure behind a shutdown problem
            if self.proc.poll() is not None and exc is not None:
                # ...but say when the cluster itself had died: then it is the likelier cause.
                exc.add_note(f"kafka_mock had exited with {self.proc.returncode} before the end "
                             f"of the test; its stderr ends: {self.stderr()[-2000:]}")
            try:
                self.stop()
            except AssertionError:
                pass


# --------------------------------------------------------------------------------------------
# Ticks


def _tick_class():
    return contract().message("tickgraph.v1.Tick")


def tick_message(symbol, time_ns, price, size):
    """A tickgraph.v1.Tick message object."""
    return _tick_class()(symbol=symbol, time=int(time_ns), price=float(price), size=float(size))


def tick_bytes(symbol, time_ns, price, size, fmt="protobuf"):
    """The bytes of a tickgraph.v1.Tick: protobuf binary (fmt="protobuf") or the protobuf JSON
    mapping (fmt="json": camelCase names, int64 as a string, every field present even when 0,
    compact UTF-8)."""
    msg = tick_message(symbol, time_ns, price, size)
    if fmt == "protobuf":
        return msg.SerializeToString()
    if fmt == "json":
        return tick_json(msg).encode()
    raise ValueError(f"unknown tick format {fmt!r} (protobuf or json)")


def tick_json(msg):
    """The protobuf JSON mapping of a message, compact and with fields of value 0 included."""
    json_format = contract().json_format
    try:
        as_dict = json_format.MessageToDict(msg, including_default_value_fields=True)
    except TypeError:  # protobuf >= 26 renamed the option
        as_dict = json_format.MessageToDict(msg, always_print_fields_with_no_presence=True)
    return json.dumps(as_dict, separators=(",", ":"))


def _fast_tick_json(symbol, time_ns, price, size):
    # json_format.MessageToDict costs 8 µs a tick, most of produce()'s time in JSON; for this
    # flat message the mapping is just this (int64 as a string, doubles as Python prints them).
    return json.dumps({"symbol": symbol, "time": str(int(time_ns)), "price": float(price),
                       "size": float(size)}, separators=(",", ":")).encode()


def parse_tick(data, fmt="protobuf"):
    """(symbol, time_ns, price, size) of tick bytes in either format."""
    msg = _tick_class()()
    if fmt == "protobuf":
        msg.ParseFromString(data)
    elif fmt == "json":
        contract().json_format.Parse(data, msg)
    else:
        raise ValueError(f"unknown tick format {fmt!r} (protobuf or json)")
    return msg.symbol, msg.time, msg.price, msg.size


def symbols(n_symbols):
    """"S00", "S01", … (three digits from 100 symbols on)."""
    width = max(2, len(str(n_symbols - 1)))
    return [f"S{i:0{width}d}" for i in range(n_symbols)]


def make_ticks(n_symbols, n_ticks, seed, start_ns=None, step_ns=None):
    """`n_ticks` ticks in all, over `n_symbols` symbols taking turns (S00, S01, …, S00, …), as
    (symbol, time_ns, price, size) tuples in time order. The same arguments give the same ticks.

    Tick i is at start_ns + i * step_ns: times increase strictly, per symbol and overall. By
    default start_ns is TICKS_START_NS (a fixed time, never the clock's) and step_ns is 10 ms,
    or less when needed to keep the last tick within an hour of the start.
    Prices are a multiplicative random walk per symbol, in cents, never below 0.01; sizes are
    whole numbers from 0 to 1000 (as floats, like the message's double)."""
    if n_symbols < 1 or n_ticks < 0:
        raise ValueError("make_ticks needs n_symbols >= 1 and n_ticks >= 0")
    if start_ns is None:
        start_ns = TICKS_START_NS
    if step_ns is None:
        step_ns = max(1, min(10**7, 3600 * 10**9 // max(1, n_ticks)))
    if step_ns < 1:
        raise ValueError("step_ns must be at least 1 ns")
    rng = random.Random(seed)
    names = symbols(n_symbols)
    prices = [round(rng.uniform(10.0, 500.0), 2) for _ in names]
    ticks = []
    for i in range(n_ticks):
        k = i % n_symbols
        prices[k] = max(0.01, round(prices[k] * math.exp(rng.gauss(0.0, 0.001)), 2))
        ticks.append((names[k], start_ns + i * step_ns, prices[k], float(rng.randint(0, 1000))))
    return ticks


# --------------------------------------------------------------------------------------------
# Kafka clients

# Quiet clients: a broker the test took down is expected. Level 3 keeps errors but drops the
# warning every consumer logs against the mock, whose Metadata API predates the request's
# allow.auto.create.topics flag (so asking about an unknown topic creates it, see MockKafka).
_CLIENT_LOG = {"log.connection.close": False, "log_level": 3}


def _producer(bootstrap, errors, extra=None):
    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    conf = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        "queue.buffering.max.kbytes": 1048576,
        "acks": "all",
        "message.timeout.ms": 30000,
        "on_delivery": on_delivery,
        **_CLIENT_LOG,
    }
    conf.update(extra or {})
    return confluent_kafka.Producer(conf)


def _warm_up(producer, topic, timeout):
    # Messages produced before the producer knows the topic's leaders sometimes wait for the
    # broker threads' 1 s idle wake-up (librdkafka 2.0.2: one run in four or so against the
    # mock); fetching the metadata first removes the stall. It also auto-creates the topic, as
    # the first produce would.
    producer.list_topics(topic, timeout=timeout)


def _finish(producer, errors, timeout, what):
    remaining = producer.flush(timeout)
    if errors:
        raise RuntimeError(f"{len(errors)} {what} failed to deliver; first: {errors[0]}")
    if remaining:
        raise RuntimeError(f"{remaining} {what} still undelivered after {timeout} s")


def produce(bootstrap, topic, ticks, fmt="protobuf", key_by_symbol=True, timeout=60,
            config=None):
    """Sends ticks (tuples as from make_ticks) to `topic`, in order, as tick_bytes(…, fmt), and
    waits until every one is acknowledged by all replicas. With key_by_symbol the key is the
    symbol, so librdkafka's default partitioner keeps each symbol in one partition and its ticks
    in order; without it there is no key. `config` adds or overrides producer settings.
    Returns the number of messages; raises RuntimeError if any was not delivered (a partition
    whose leader is down fails after message.timeout.ms, 30 s), KafkaException if no broker
    answers at all."""
    proto = fmt == "protobuf"
    if not proto and fmt != "json":
        raise ValueError(f"unknown tick format {fmt!r} (protobuf or json)")
    errors = []
    producer = _producer(bootstrap, errors, config)
    tick = _tick_class()()
    _warm_up(producer, topic, timeout)
    count = 0
    for symbol, time_ns, price, size in ticks:
        if proto:
            # One reused message is faster than building one per tick.
            tick.symbol, tick.time, tick.price, tick.size = symbol, time_ns, price, size
            value = tick.SerializeToString()
        else:
            value = _fast_tick_json(symbol, time_ns, price, size)
            if count == 0:  # the shortcut must stay byte-identical to protobuf's own mapping
                expected = tick_bytes(symbol, time_ns, price, size, "json")
                assert value == expected, f"{value!r} != json_format's {expected!r}"
        key = symbol.encode() if key_by_symbol else None
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)  # serve delivery callbacks so the queue keeps moving
    _finish(producer, errors, timeout, "ticks")
    return count


def produce_raw(bootstrap, topic, key, value, headers=None, partition=None, timeout=30):
    """Sends one message of arbitrary bytes (a poison message): key and value may be bytes, str
    or None; headers a dict or list of pairs. Raises RuntimeError if it is not delivered."""
    errors = []
    producer = _producer(bootstrap, errors)
    kwargs = {}
    if headers:
        kwargs["headers"] = list(headers.items()) if isinstance(headers, dict) else list(headers)
    if partition is not None:
        kwargs["partition"] = partition
    _warm_up(producer, topic, timeout)
    producer.produce(topic, value, key, **kwargs)
    _finish(producer, errors, timeout, "raw messages")


def topic_partitions(bootstrap, topic, timeout=10):
    """The partition ids of a topic, or [] when the cluster does not know it (asking does not
    create it)."""
    consumer = _assign_consumer(bootstrap)
    try:
        return _partitions(consumer, topic, timeout)
    finally:
        consumer.close()


def _assign_consumer(bootstrap):
    # group.id is mandatory, but partitions are assigned by hand: no group join, no commits.
    return confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"tickgraph-test-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "allow.auto.create.topics": False,
        **_CLIENT_LOG,
    })


def _partitions(consumer, topic, timeout):
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        if meta is not None and \
                meta.error.code() != confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise RuntimeError(f"metadata of topic {topic!r}: {meta.error}")
        return []
    return sorted(meta.partitions)


def consume_all(bootstrap, topic, timeout=10, with_partitions=False):
    """Every message of `topic` from the beginning up to its end when called, as a list of
    (key, value, headers) — key and value bytes or None, headers a dict of name to bytes —
    partition by partition in offset order. With with_partitions=True each item is
    (partition, offset, key, value, headers). A topic the cluster does not know gives [].
    Raises TimeoutError when the messages cannot all be read within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    consumer = _assign_consumer(bootstrap)
    try:
        partitions = _partitions(consumer, topic, timeout)
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, p),
                timeout=max(0.1, deadline - time.monotonic()))
            if high > low:
                ends[p] = high
        by_partition = {p: [] for p in ends}
        if ends:
            consumer.assign([confluent_kafka.TopicPartition(topic, p,
                                                            confluent_kafka.OFFSET_BEGINNING)
                             for p in ends])
        pending = set(ends)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                got = {p: len(v) for p, v in by_partition.items()}
                raise TimeoutError(f"consume_all({topic!r}): read {got} of offsets up to {ends}"
                                   f" within {timeout} s")
            for msg in consumer.consume(10000, min(left, 0.5)):
                if msg.error() is not None:
                    if msg.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consume_all({topic!r}): {msg.error()}")
                p = msg.partition()
                if p not in pending:
                    continue
                if msg.offset() < ends[p]:
                    by_partition[p].append((p, msg.offset(), msg.key(), msg.value(),
                                            dict(msg.headers() or [])))
                if msg.offset() >= ends[p] - 1:
                    pending.discard(p)
    finally:
        consumer.close()
    items = [item for p in sorted(by_partition) for item in by_partition[p]]
    return items if with_partitions else [item[2:] for item in items]


# --------------------------------------------------------------------------------------------
# NATS


def monitor_json(url, timeout=1.0):
    """GET url (a nats-server monitoring endpoint such as MONITOR/jsz) → parsed JSON, or None
    when the server does not answer (yet)."""
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                url, timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


class _NatsNode:
    """One nats-server process with fixed ports and storage directory, so that a restart after
    a kill comes back as the same node with the same JetStream data."""

    def __init__(self, name, directory, route_ports=None, cluster_name=None):
        self.name = name
        self.directory = Path(directory)
        self.store = self.directory / "jetstream"
        self.store.mkdir(parents=True, exist_ok=True)
        self.log = self.directory / "server.log"
        self.port = free_port()
        self.monitor_port = free_port()
        self.cluster_port = free_port() if cluster_name else None
        self.route_ports = route_ports  # filled in by NatsCluster once every node has a port
        self.cluster_name = cluster_name
        self.proc = None

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor(self):
        return f"http://127.0.0.1:{self.monitor_port}"

    def args(self):
        args = [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-m", str(self.monitor_port), "-sd", str(self.store), "-n", self.name]
        if self.cluster_name:
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.route_ports)
            args += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--cluster_name", self.cluster_name, "--routes", routes]
        return args

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nats-server {self.name} exited {self.proc.returncode}: "
                               f"{self.log_tail()}")

    def log_tail(self, n=2000):
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def healthy(self):
        """Accepting clients, and /healthz (JetStream included) says ok."""
        self.check_alive()
        if not port_open(self.port):
            return False
        health = monitor_json(self.monitor + "/healthz")
        return health is not None and health.get("status") == "ok"

    def jsz(self):
        return monitor_json(self.monitor + "/jsz")

    def meta_leader(self):
        """The JetStream meta leader this node knows of, or None."""
        self.check_alive()
        jsz = self.jsz()
        if not jsz:
            return None
        return (jsz.get("meta_cluster") or {}).get("leader") or None

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=10):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class NatsCluster:
    """`size` nats-server nodes with JetStream, routed into one cluster named `tg` (node1…nodeN),
    until stop() (or the end of the `with` block). Ready when every node is healthy and knows a
    JetStream meta leader. `urls` is the comma-separated client URL list.

    kill(i) sends SIGKILL to node i (0-based); restart(i) starts it again on the same ports and
    storage and waits until it is back in the cluster."""

    def __init__(self, size=3, cluster_name="tg", start_timeout=30):
        self.size = size
        self.cluster_name = cluster_name if size > 1 else None
        self.start_timeout = start_timeout
        self.directory = Path(tempfile.mkdtemp(prefix="tickgraph-feeds-nats-"))
        self.nodes = []
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise

    def _start_all(self):
        # A port picked by free_port() can be taken by someone else before the server binds it;
        # then the server exits at once, and new ports are tried.
        for attempt in range(3):
            for node in self.nodes:
                node.kill()
            self.nodes = [_NatsNode(f"node{k + 1}",
                                    self.directory / f"attempt{attempt}-node{k + 1}",
                                    cluster_name=self.cluster_name)
                          for k in range(self.size)]
            if self.cluster_name:
                ports = [n.cluster_port for n in self.nodes]
                for node in self.nodes:
                    node.route_ports = [p for p in ports if p != node.cluster_port]
            for node in self.nodes:
                node.start()
            try:
                self.wait_ready(self.start_timeout)
                return
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self._logs().lower():
                    raise

    def _logs(self):
        return "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in self.nodes)

    def wait_ready(self, timeout=None, nodes=None):
        """Waits until the given nodes (default: all) are healthy and, in a cluster, know a
        JetStream meta leader."""
        timeout = self.start_timeout if timeout is None else timeout
        nodes = [self.nodes[i] for i in (range(self.size) if nodes is None else nodes)]

        def ready():
            return all(n.healthy() and (not self.cluster_name or n.meta_leader())
                       for n in nodes)
        try:
            wait_for(ready, timeout, f"nats-server nodes {[n.name for n in nodes]}", 0.1)
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n{self._logs()}") from None

    @property
    def urls(self):
        return ",".join(n.url for n in self.nodes)

    @property
    def url_list(self):
        return [n.url for n in self.nodes]

    def url_of(self, i):
        return self.nodes[i].url

    def monitor_url(self, i):
        return self.nodes[i].monitor

    def running(self, i):
        return self.nodes[i].running()

    def meta_leader(self, i=0):
        """The name of the JetStream meta leader as node i sees it, or None."""
        return self.nodes[i].meta_leader()

    def kill(self, i):
        """SIGKILL to node i; returns when it has exited."""
        self.nodes[i].kill()

    def restart(self, i, timeout=None):
        """Starts node i again (stopping it first if it still runs) and waits until it is
        ready."""
        self.nodes[i].stop()
        self.nodes[i].start()
        self.wait_ready(timeout, nodes=[i])

    def stop(self):
        """Stops every node (SIGTERM, SIGKILL after 10 s) and removes the storage; idempotent."""
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()


class NatsServer(NatsCluster):
    """One nats-server with JetStream (no cluster). `url` is its client URL; kill() and
    restart() act on it (the index is accepted for symmetry with NatsCluster)."""

    def __init__(self, start_timeout=30):
        super().__init__(size=1, start_timeout=start_timeout)

    @property
    def url(self):
        return self.nodes[0].url

    @property
    def monitor(self):
        return self.nodes[0].monitor

    def kill(self, i=0):
        super().kill(i)

    def restart(self, i=0, timeout=None):
        super().restart(i, timeout)


# --------------------------------------------------------------------------------------------
# A raw NATS client (the text protocol over a socket): enough to publish ticks and to read the
# dead-letter subject and the bus, since Debian has no Python NATS client.


class _NatsConnection:
    """One client connection: CONNECT with headers on, then PUB/HPUB, SUB, and MSG/HMSG frames
    read back; the server's PINGs are answered. Not thread-safe: one thread per connection."""

    def __init__(self, url, timeout=10):
        host, port = url.removeprefix("nats://").split(",")[0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buffer = b""
        self.pending = []  # messages read while waiting for a PONG, handed out first
        info = self._line()
        if not info.startswith(b"INFO "):
            raise RuntimeError(f"nats {url}: expected INFO, got {info[:200]!r}")
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                   b'"no_responders":true,"protocol":1}\r\n')
        self.flush()

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("nats: the server closed the connection")
        self.buffer += chunk

    def _line(self):
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buffer) < n + 2:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n + 2:]
        return data

    def publish(self, subject, payload, headers=None, reply=None):
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        target = f"{subject} {reply}" if reply else subject
        if headers:
            head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            head = (head + "\r\n").encode()
            self._send(f"HPUB {target} {len(head)} {len(head) + len(payload)}\r\n".encode() +
                       head + payload + b"\r\n")
        else:
            self._send(f"PUB {target} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def subscribe(self, subject, sid=1):
        self._send(f"SUB {subject} {sid}\r\n".encode())

    def flush(self):
        """PING, and waits for the PONG: the server has processed everything sent before."""
        self._send(b"PING\r\n")
        while True:
            message = self._frame()
            if message is None:
                return
            self.pending.append(message)

    def next_message(self):
        """The next (subject, headers, payload) message; None at a PONG. Raises socket.timeout
        when nothing comes within the socket's timeout."""
        if self.pending:
            return self.pending.pop(0)
        return self._frame()

    def _frame(self):
        while True:
            line = self._line()
            verb = line.split(b" ", 1)[0].upper()
            if verb == b"PING":
                self._send(b"PONG\r\n")
            elif verb == b"PONG":
                return None
            elif verb == b"-ERR":
                raise RuntimeError(f"nats: {line.decode(errors='replace')}")
            elif verb == b"MSG":  # MSG subject sid [reply] size
                parts = line.decode().split()
                return parts[1], {}, self._bytes(int(parts[-1]))
            elif verb == b"HMSG":  # HMSG subject sid [reply] header_size total_size
                parts = line.decode().split()
                head_size, total = int(parts[-2]), int(parts[-1])
                data = self._bytes(total)
                lines = data[:head_size].decode(errors="replace").split("\r\n")
                status = lines[0].split(None, 2)[1:]  # "NATS/1.0 503" for no responders
                headers = {"Status": status[0]} if status else {}
                for h in lines[1:]:
                    if ":" in h:
                        k, v = h.split(":", 1)
                        headers[k.strip()] = v.strip()
                return parts[1], headers, data[head_size:]
            # +OK and INFO (cluster updates) need no answer

    def close(self):
        self.sock.close()


def nats_publish(url, subject, payloads, headers=None, jetstream=True, timeout=10):
    """Publishes each payload (bytes or str) on `subject`, in order. With jetstream, each message
    asks for the JetStream acknowledgement and all must come back without error (the subject is
    a stream's and the stream has stored them); otherwise a PING/PONG flush only makes sure the
    server has read them. Returns the number published."""
    conn = _NatsConnection(url, timeout)
    try:
        inbox = f"_INBOX.{uuid.uuid4().hex}"
        if jetstream:
            conn.subscribe(inbox + ".*", sid=1)
        count = 0
        for i, payload in enumerate(payloads):
            conn.publish(subject, payload, headers, reply=f"{inbox}.{i}" if jetstream else None)
            count += 1
        conn.flush()
        acks = 0
        deadline = time.monotonic() + timeout
        while jetstream and acks < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats_publish({subject!r}): {acks} of {count} acknowledged")
            message = conn.next_message()
            if message is None:
                continue
            _, head, body = message
            if head.get("Status") == "503" or b'"error"' in body:
                raise RuntimeError(f"nats_publish({subject!r}): not stored: {head} {body[:300]!r}")
            acks += 1
        return count
    finally:
        conn.close()


class NatsSubscriber:
    """A core NATS subscription read on its own thread from the moment it is made (so that
    nothing published afterwards is missed), until close(). `messages` collects (subject,
    headers, payload) in arrival order."""

    def __init__(self, url, subject, timeout=10):
        self.subject = subject
        self.messages = []
        self._lock = threading.Lock()
        self._closed = False
        self._conn = _NatsConnection(url, timeout)
        self._conn.subscribe(subject)
        self._conn.flush()  # the server has the subscription before this returns
        self._conn.sock.settimeout(0.2)
        self.error = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._closed:
            try:
                message = self._conn.next_message()
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, RuntimeError) as e:
                if not self._closed:
                    self.error = e
                return
            if message is not None:
                with self._lock:
                    self.messages.append(message)

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def wait(self, n, timeout, what=None):
        """The first `n` messages, waiting up to `timeout` s; TimeoutError with the count."""
        try:
            wait_for(lambda: len(self.messages) >= n or self.error is not None, timeout,
                     what or f"{n} messages on {self.subject}")
        except TimeoutError as e:
            raise TimeoutError(f"{e} (got {len(self.messages)})") from None
        if self.error is not None:
            raise RuntimeError(f"subscription to {self.subject}: {self.error}")
        return self.snapshot()[:n]

    def close(self):
        self._closed = True
        self._thread.join(2)
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def nats_subscribe_collect(url, subject, n, timeout):
    """Subscribes to `subject` and returns the first `n` messages published after that, as
    (subject, headers, payload); TimeoutError when fewer come within `timeout` s."""
    with NatsSubscriber(url, subject) as sub:
        return sub.wait(n, timeout)


__all__ = ["MockKafka", "NatsCluster", "NatsServer", "NatsSubscriber", "consume_all", "free_port",
           "kafka_mock_binary", "make_ticks", "monitor_json", "nats_publish",
           "nats_subscribe_collect", "parse_tick", "port_open", "produce", "produce_raw",
           "symbols", "tick_bytes", "tick_json", "tick_message", "topic_partitions", "wait_for"]
