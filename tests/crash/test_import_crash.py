"""Crash test of `tickgraph import csv`: SIGKILL at random moments must never leave half a batch.

A valid CSV of 1,000,000 one-minute bars is generated in pytest's tmp_path. The importer writes
it in batches of 20,000 rows, each one transaction, printing "committed N" after each. It is
killed with SIGKILL at seeded random moments, several times over the same SQLite file (so later
runs re-import over partial data). After each kill the file is opened with Python's sqlite3 and
checked: integrity_check is ok; every batch the importer reported committed is there; the stored
times are a union of whole batches; the stored values equal the CSV's. Finally a complete import
succeeds and the file holds exactly the 1,000,000 rows.

Run with Debian's interpreter, which has pytest:
    TICKGRAPH_BIN=build/bin/tickgraph /usr/bin/python3 -m pytest -q tests/crash
"""

import os
import random
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TICKGRAPH_BIN", REPO / "build" / "bin" / "tickgraph"))

ROWS = 1_000_000
BATCH = 20_000
KILLS = 6
SEED = 20240419
START = int(datetime(2021, 1, 4, tzinfo=timezone.utc).timestamp())  # epoch seconds
MINUTE_NS = 60 * 10**9
START_NS = START * 10**9


def bar(i):
    """Data row i (0-based) of the CSV, a valid 1m bar at START + i minutes, as the store should
    hold it: (time in ns, open, high, low, close, volume)."""
    p = 50 + (i * 7919 % 100_003) / 64  # varied prices, exact in binary
    return (START_NS + i * MINUTE_NS, p, p + 2.5, p - 1.25, p + 0.5, float(i * 3 % 1_000_007))


def row_text(i):
    """Line i + 2 of the CSV: bar(i) in text (repr gives back the same doubles when parsed)."""
    _, o, h, low, c, v = bar(i)
    t = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(START + 60 * i))
    return f"{t},{o!r},{h!r},{low!r},{c!r},{int(v)}"


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "big.csv"
    with open(path, "w") as f:
        f.write("Date,Open,High,Low,Close,Volume\n")
        for start in range(0, ROWS, 50_000):
            f.write("".join(row_text(i) + "\n" for i in range(start, min(ROWS, start + 50_000))))
    print(f"{path.stat().st_size / 1e6:.0f} MB")
    yield path
    path.unlink()  # 60 MB; pytest keeps the last runs' tmp_path folders


def import_command(csv_path, db_path):
    assert BIN.is_file(), f"tickgraph binary not found at {BIN}; build it or set TICKGRAPH_BIN"
    return [str(BIN), "import", "csv", str(csv_path), "--symbol", "X", "--interval", "1m",
            "--batch", str(BATCH), "--db", f"sqlite:{db_path}"]


def last_committed(stdout):
    """The N of the last complete "committed N" line (0 when none)."""
    n = 0
    for line in stdout.split("\n")[:-1]:  # the last piece is empty or a line cut short
        if line.startswith("committed "):
            n = int(line.split()[1])
    return n


def check_store(db_path, committed):
    """Checks the SQLite file after a kill; returns the number of X's candles stored."""
    if not db_path.exists():  # killed while reading the CSV, before opening the database
        assert committed == 0
        return 0
    con = sqlite3.connect(f"file:{db_path}?mode=rw", uri=True)  # never creates the file
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        asset = None
        if "assets" in tables:
            asset = con.execute("SELECT id FROM assets WHERE symbol = 'X'").fetchone()
        if asset is None:  # killed before the schema or the asset was written: nothing committed
            assert committed == 0
            if "candles" in tables:
                assert con.execute("SELECT count(*) FROM candles").fetchone()[0] == 0
            return 0
        where = "asset_id = ? AND interval = '1m'"
        key = (asset[0],)
        stored = con.execute(f"SELECT count(*) FROM candles WHERE {where}", key).fetchone()[0]
        assert stored >= committed, f"{committed} rows reported committed, {stored} stored"
        assert stored % BATCH == 0 or stored == ROWS, f"{stored} rows: a batch was cut"
        # Every stored time is a CSV time, and each batch is there whole or not at all.
        off_grid = con.execute(
            f"SELECT count(*) FROM candles WHERE {where} AND "
            "(time < ? OR time > ? OR (time - ?) % ? != 0)",
            (*key, START_NS, START_NS + (ROWS - 1) * MINUTE_NS, START_NS, MINUTE_NS)).fetchone()[0]
        assert off_grid == 0, f"{off_grid} stored times are not CSV times"
        per_batch = dict(con.execute(
            f"SELECT (time - ?) / ? / ? AS b, count(*) FROM candles WHERE {where} GROUP BY b",
            (START_NS, MINUTE_NS, BATCH, *key)).fetchall())
        partial = {b: n for b, n in per_batch.items() if n != min(BATCH, ROWS - b * BATCH)}
        assert not partial, f"batches stored in part (batch: rows): {partial}"
        # The batches the importer reported are all there.
        for b in range(committed // BATCH):
            assert b in per_batch, f"batch {b} was reported committed but is missing"
        # Values: every stored bar equals the CSV row with its time.
        for row in con.execute(f"SELECT time, open, high, low, close, volume FROM candles "
                               f"WHERE {where} ORDER BY time", key):
            i = (row[0] - START_NS) // MINUTE_NS
            if row != bar(i):
                pytest.fail(f"row {i}: stored {row}, CSV {bar(i)}")
        return stored
    finally:
        con.close()


def test_sigkill_during_import_never_leaves_half_a_batch(big_csv, tmp_path):
    """Checks that after SIGKILL at random moments the store is intact, holds every batch reported
    committed, holds only whole batches with the CSV's values, and a final import completes."""
    rng = random.Random(SEED)

    # How long one full import takes here, on a database of its own.
    t0 = time.monotonic()
    full = subprocess.run(import_command(big_csv, tmp_path / "timing.db"), capture_output=True,
                          text=True, timeout=300)
    duration = time.monotonic() - t0
    assert full.returncode == 0, full.stderr
    assert last_committed(full.stdout) == ROWS
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"timing.db{suffix}").unlink(missing_ok=True)

    db_path = tmp_path / "crash.db"
    outcomes = []
    for k in range(KILLS):
        # Stratified over (0, duration) so that kills land early, mid-way and late in the import.
        delay = duration * (k + rng.uniform(0.05, 0.95)) / KILLS
        proc = subprocess.Popen(import_command(big_csv, db_path), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        killed = proc.returncode == -signal.SIGKILL
        committed = last_committed(out)
        if not killed:  # finished before the kill
            assert proc.returncode == 0, err
            assert committed == ROWS
        stored = check_store(db_path, committed)
        outcomes.append((round(delay, 2), killed, committed, stored))

    print("kills (delay s, killed, committed, stored):", outcomes, f"full import {duration:.2f}s")
    assert any(killed and 0 < committed < ROWS for _, killed, committed, _ in outcomes), (
        f"no kill landed mid-import: {outcomes}")

    final = subprocess.run(import_command(big_csv, db_path), capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    assert last_committed(final.stdout) == ROWS
    con = sqlite3.connect(db_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        got = con.execute(
            "SELECT c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c "
            "JOIN assets a ON a.id = c.asset_id WHERE a.symbol = 'X' AND c.interval = '1m' "
            "ORDER BY c.time").fetchall()
    finally:
        con.close()
    assert len(got) == ROWS
    for i, row in enumerate(got):
        if row != bar(i):
            pytest.fail(f"row {i} after the complete import: stored {row}, CSV {bar(i)}")
