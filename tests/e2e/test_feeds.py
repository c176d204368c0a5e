"""Self-test of the feed tooling (tests/e2e/feeds.py) against the real things: the kafka_mock tool
(librdkafka's mock cluster) with confluent_kafka clients, and nats-server alone and as a
three-node JetStream cluster. About 15 s.

Needs the kafka_mock target built (TICKGRAPH_KAFKA_MOCK names it, else build/bin/kafka_mock),
/usr/sbin/nats-server, protoc, and Debian's python3-confluent-kafka and python3-protobuf.
"""

import collections
import socket
import subprocess
import time

import pytest

import feeds


def _address(bootstrap, broker_id):
    host, port = bootstrap.split(",")[broker_id - 1].rsplit(":", 1)
    return host, int(port)


def test_ticks_are_deterministic_valid_and_in_the_past():
    """make_ticks gives the same ticks for a seed, from a fixed start (never the clock's, so
    two calls a minute apart agree too), times strictly increasing per symbol and all before
    now, positive prices, whole sizes, and symbols taking turns."""
    ticks = feeds.make_ticks(50, 5000, seed=7)
    assert ticks == feeds.make_ticks(50, 5000, seed=7)
    assert ticks != feeds.make_ticks(50, 5000, seed=8)
    assert [t[0] for t in ticks[:51]] == feeds.symbols(50) + ["S00"]
    assert ticks[0][1] == feeds.TICKS_START_NS and ticks[-1][1] < time.time_ns()
    last = {}
    for symbol, time_ns, price, size in ticks:
        assert time_ns > last.get(symbol, 0)
        last[symbol] = time_ns
        assert price > 0 and size >= 0 and size == int(size)


def test_tick_bytes_round_trip_in_both_formats():
    """A tick encodes to protobuf binary and to the protobuf JSON mapping (int64 as a string,
    zero fields present) and decodes back to the same values."""
    tick = ("S07", 1_700_000_000_123_456_789, 101.25, 0.0)
    for fmt in ("protobuf", "json"):
        assert feeds.parse_tick(feeds.tick_bytes(*tick, fmt=fmt), fmt) == tick
    assert feeds.tick_bytes(*tick, fmt="json") == \
        b'{"symbol":"S07","time":"1700000000123456789","price":101.25,"size":0.0}'
    with pytest.raises(ValueError):
        feeds.tick_bytes(*tick, fmt="csv")


def test_kafka_produce_and_consume_100k_ticks_keyed_by_symbol():
    """100,000 ticks produced to a 6-partition topic all come back, each symbol in exactly one
    partition with its ticks in time order, and a poison message keeps its key and headers."""
    ticks = feeds.make_ticks(50, 100_000, seed=1)
    with feeds.MockKafka(brokers=3, topics={"ticks": 6}) as kafka:
        start = time.perf_counter()
        assert feeds.produce(kafka.bootstrap, "ticks", ticks) == len(ticks)
        rate = len(ticks) / (time.perf_counter() - start)
        print(f"produce: {rate:,.0f} ticks/s")
        messages = feeds.consume_all(kafka.bootstrap, "ticks", with_partitions=True)
        assert len(messages) == len(ticks)
        partitions_of = collections.defaultdict(set)
        times_of = collections.defaultdict(list)
        decoded = []
        for partition, _offset, key, value, headers in messages:
            tick = feeds.parse_tick(value)
            assert key == tick[0].encode() and headers == {}
            partitions_of[tick[0]].add(partition)
            times_of[tick[0]].append(tick[1])
            decoded.append(tick)
        assert all(len(p) == 1 for p in partitions_of.values()), partitions_of
        assert len({p for ps in partitions_of.values() for p in ps}) > 1  # really spread out
        assert all(t == sorted(t) for t in times_of.values())
        assert sorted(decoded, key=lambda t: t[1]) == ticks

        feeds.produce_raw(kafka.bootstrap, "ticks.dlq", b"S01", b"\xff\x00 not a tick",
                          headers={"error": "bad protobuf"})
        assert feeds.consume_all(kafka.bootstrap, "ticks.dlq") == \
            [(b"S01", b"\xff\x00 not a tick", {"error": b"bad protobuf"})]
        # The mock auto-creates topics on first use with 4 partitions.
        assert feeds.topic_partitions(kafka.bootstrap, "ticks.dlq") == [0, 1, 2, 3]


def test_kafka_broker_down_and_up():
    """A broker taken down refuses connections and comes back when brought up; producing
    works again once it is up, and while it is down after moving leadership away from it."""
    with feeds.MockKafka(brokers=3, topics={"t": 3}) as kafka:
        assert len(kafka.bootstrap.split(",")) == 3
        kafka.create_topic("extra", 2)
        with pytest.raises(RuntimeError, match="already exists"):
            kafka.create_topic("extra", 2)
        with pytest.raises(RuntimeError, match="not an id"):
            kafka.broker_down(4)

        kafka.broker_down(2)
        with pytest.raises(OSError):
            socket.create_connection(_address(kafka.bootstrap, 2), timeout=2).close()
        for partition in range(3):
            kafka.set_leader("t", partition, 1)
        ticks = feeds.make_ticks(5, 500, seed=3)
        assert feeds.produce(kafka.bootstrap, "t", ticks, timeout=20) == 500

        kafka.broker_up(2)
        socket.create_connection(_address(kafka.bootstrap, 2), timeout=2).close()
        for partition in range(3):
            kafka.set_leader("t", partition, 2)
        assert feeds.produce(kafka.bootstrap, "t", ticks, timeout=20) == 500
        assert len(feeds.consume_all(kafka.bootstrap, "t")) == 1000


def test_kafka_mock_exits_cleanly_on_sigterm_and_rejects_bad_arguments():
    """kafka_mock exits 0 on SIGTERM and 2 with a message on bad arguments."""
    binary = str(feeds.kafka_mock_binary())
    bad = subprocess.run([binary, "--topic", "x:0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "partition count" in bad.stderr
    kafka = feeds.MockKafka(brokers=1)
    kafka.proc.terminate()
    assert kafka.proc.wait(10) == 0


def _accepts(url):
    host, port = url[len("nats://"):].rsplit(":", 1)
    return feeds.port_open(int(port), host)


def test_nats_server_kill_and_restart():
    """A JetStream nats-server accepts clients, is gone after kill() and back after restart(),
    and its temporary storage is removed by stop()."""
    with feeds.NatsServer() as nats:
        assert _accepts(nats.url)
        assert feeds.monitor_json(nats.monitor + "/jsz")["config"]["store_dir"]
        directory = nats.directory
        nats.kill()
        assert not _accepts(nats.url)
        nats.restart()
        assert _accepts(nats.url)
    assert not directory.exists() and not _accepts(nats.url)


def test_nats_cluster_of_three_survives_a_killed_node():
    """Three routed JetStream nodes elect a meta leader; killing the leader leaves the other two
    electing a new one, and the restarted node rejoins the cluster."""
    with feeds.NatsCluster(3) as nats:
        urls = nats.urls.split(",")
        assert len(urls) == 3 and all(_accepts(u) for u in urls)
        leader = nats.meta_leader(0)
        assert leader in {"node1", "node2", "node3"}
        assert all(nats.meta_leader(i) == leader for i in range(3))
        victim = int(leader[len("node"):]) - 1
        nats.kill(victim)
        assert not _accepts(urls[victim])
        others = [i for i in range(3) if i != victim]

        def new_leader():
            current = nats.meta_leader(others[0])
            return current is not None and current != leader
        feeds.wait_for(new_leader, 20, "a new meta leader")
        nats.restart(victim)
        assert _accepts(urls[victim])
        routes = feeds.monitor_json(nats.monitor_url(victim) + "/routez")["num_routes"]
        assert routes >= 2
