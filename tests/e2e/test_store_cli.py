"""End-to-end tests of tickgraph's storage commands (import csv, query candles, fetch yahoo,
compute --db, the default database), driving the real binary against real SQLite files.

The binary is $TICKGRAPH_BIN (default: <repo>/build/bin/tickgraph). Every database is a file in
pytest's tmp_path (--db sqlite:PATH), and HOME points into tmp_path, so no test touches the user's
own database. Oracles are the input files themselves (the CSV's values, parsed by Python; the Yahoo
fixtures' JSON), compute --csv for compute --db, and the SQLite file read with Python's sqlite3
module, never tickgraph's own output taken as truth.

Run with Debian's interpreter, which has pytest:
    TICKGRAPH_BIN=build/bin/tickgraph /usr/bin/python3 -m pytest -q tests/e2e/test_store_cli.py
"""

import csv
import http.server
import json
import os
import sqlite3
import subprocess
import threading
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TICKGRAPH_BIN", REPO / "build" / "bin" / "tickgraph"))
SP500 = REPO / "scripts" / "deps" / "node_modules" / "vega-datasets" / "data" / "sp500-2000.csv"
DEMO = REPO / "examples" / "demo.yaml"
YAHOO = REPO / "tests" / "data" / "yahoo"

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3
FIELDS = ["open", "high", "low", "close", "volume"]
HEADER = "date,open,high,low,close,volume"

# Variables that would make a run depend on the machine rather than on the test.
HOST_VARIABLES = ["TICKGRAPH_DB", "XDG_DATA_HOME", "TICKGRAPH_DEMO_CSV", "TICKGRAPH_YAHOO_URL",
                  "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                  "ALL_PROXY"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every run sees HOME inside tmp_path and none of the variables that pick a database."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in HOST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return home


def tickgraph(*args, env=None, timeout=300):
    """Runs the binary with `args` (and extra environment `env`); returns the CompletedProcess
    with stdout and stderr decoded."""
    assert BIN.is_file(), f"tickgraph binary not found at {BIN}; build it or set TICKGRAPH_BIN"
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def ok(*args, env=None):
    """Runs tickgraph, requires exit 0 and returns the CompletedProcess."""
    r = tickgraph(*args, env=env)
    assert r.returncode == EXIT_OK, f"{args} exited {r.returncode}: {r.stderr}"
    return r


# --------------------------------------------------------------------------------------------
# Reading inputs and outputs


def read_csv_bars(path):
    """The bars of a Yahoo-format CSV as [(date text, open, high, low, close, volume)], parsed by
    Python: the oracle the store's answers are compared with."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        row = {k.lower().replace(" ", ""): v for k, v in row.items()}
        out.append((row["date"], *(float(row[k]) for k in FIELDS)))
    return out


def parse_query_csv(text):
    """Parses `query candles --format csv`: (header, [(time text, open, …, volume)])."""
    lines = text.splitlines()
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        assert len(cells) == 6, f"row {line!r} has {len(cells)} cells"
        rows.append((cells[0], *map(float, cells[1:])))
    return (lines[0] if lines else None), rows


def query(db, symbol, *extra, env=None):
    """`query candles SYMBOL --db DB EXTRA` as parsed rows; checks exit 0 and the header."""
    args = ("query", "candles", symbol, *extra) + (("--db", db) if db else ())
    r = ok(*args, env=env)
    head, rows = parse_query_csv(r.stdout)
    assert head == HEADER, r.stdout[:200]
    return rows


def sqlite_state(path):
    """Everything the store holds for candles and assets, read with Python's sqlite3."""
    con = sqlite3.connect(path)
    try:
        assets = con.execute("SELECT * FROM assets ORDER BY id").fetchall()
        candles = con.execute(
            "SELECT asset_id, interval, time, open, high, low, close, volume FROM candles "
            "ORDER BY asset_id, interval, time").fetchall()
        count = con.execute("SELECT count(*) FROM candles").fetchone()[0]
    finally:
        con.close()
    return {"assets": assets, "candles": candles, "count": count}


def write_lines(path, lines, newline="\n", bom=False):
    data = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode())
    return path


@pytest.fixture(scope="module")
def sp500_bars():
    assert SP500.is_file(), f"{SP500} missing: run scripts/bootstrap.sh"
    return read_csv_bars(SP500)


@pytest.fixture(scope="module")
def sp500_lines():
    return SP500.read_text().splitlines()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "store.db"


@pytest.fixture
def spx_db(db_path):
    """A fresh SQLite file holding the S&P 500 CSV as SPX; returns its --db URL."""
    url = f"sqlite:{db_path}"
    ok("import", "csv", SP500, "--symbol", "SPX", "--db", url)
    return url


# --------------------------------------------------------------------------------------------
# import csv, then query candles


def test_query_csv_gives_back_every_imported_row(spx_db, sp500_bars):
    """Checks import csv then query candles --format csv returns every CSV row, values equal."""
    r = ok("query", "candles", "SPX", "--format", "csv", "--db", spx_db)
    head, rows = parse_query_csv(r.stdout)
    assert head == HEADER
    assert len(rows) == len(sp500_bars)
    assert rows == sp500_bars


def test_import_reports_rows_and_commits(db_path, sp500_bars):
    """Checks a fresh import says how many rows it read and that all of them are new."""
    r = ok("import", "csv", SP500, "--symbol", "SPX", "--db", f"sqlite:{db_path}")
    n = len(sp500_bars)
    assert f"{n} rows, {n} new, 0 replaced, 0 unchanged" in r.stdout, r.stdout
    assert r.stdout.splitlines()[-2] == f"committed {n}", r.stdout
    assert sqlite_state(db_path)["count"] == n


def test_query_json_matches_csv(spx_db, sp500_bars):
    """Checks --format json parses, names symbol and interval, and holds the CSV's bars."""
    r = ok("query", "candles", "SPX", "--format", "json", "--db", spx_db)
    doc = json.loads(r.stdout)
    assert doc["symbol"] == "SPX"
    assert doc["interval"] == "1d"
    got = [(c["time"], *(float(c[k]) for k in FIELDS)) for c in doc["candles"]]
    assert got == sp500_bars


@pytest.mark.parametrize("lo,hi", [
    ("2008-09-15", "2009-03-09"),   # both trading days: both included
    ("2008-09-13", "2009-03-08"),   # Saturday to Sunday
    ("1999-01-01", "2000-01-31"),   # before the first bar
    ("2020-03-02", "2031-01-01"),   # past the last bar
    ("2010-06-01", "2010-06-01"),   # a single day
])
def test_query_from_to_are_inclusive(spx_db, sp500_bars, lo, hi):
    """Checks --from/--to keep exactly the CSV bars with FROM <= date <= TO, in csv and json."""
    expected = [b for b in sp500_bars if lo <= b[0] <= hi]
    assert expected, "test range holds no bars"
    assert query(spx_db, "SPX", "--from", lo, "--to", hi) == expected
    r = ok("query", "candles", "SPX", "--from", lo, "--to", hi, "--format", "json",
           "--db", spx_db)
    assert [c["time"] for c in json.loads(r.stdout)["candles"]] == [b[0] for b in expected]


def test_query_from_only_and_to_only(spx_db, sp500_bars):
    """Checks an open-ended range: --from alone reaches the last bar, --to alone the first."""
    assert query(spx_db, "SPX", "--from", "2019-12-31") == [
        b for b in sp500_bars if b[0] >= "2019-12-31"]
    assert query(spx_db, "SPX", "--to", "2000-02-01") == [
        b for b in sp500_bars if b[0] <= "2000-02-01"]


@pytest.mark.parametrize("limit", [1, 7, 250])
def test_query_limit_takes_first_bars(spx_db, sp500_bars, limit):
    """Checks --limit N returns the first N bars of the range."""
    assert query(spx_db, "SPX", "--limit", limit) == sp500_bars[:limit]
    in_range = [b for b in sp500_bars if b[0] >= "2015-01-01"]
    assert query(spx_db, "SPX", "--from", "2015-01-01", "--limit", limit) == in_range[:limit]


def test_query_unknown_symbol_exits_1(spx_db):
    """Checks querying an asset never imported exits 1 naming it, with no table."""
    r = tickgraph("query", "candles", "NOPE", "--db", spx_db)
    assert r.returncode == EXIT_BAD_INPUT
    assert "NOPE" in r.stderr
    assert r.stdout == ""


def minute_bars(start, n):
    """n one-minute bars from `start` (a UTC datetime): [(time text, o, h, l, c, v)]."""
    out = []
    for i in range(n):
        t = start + timedelta(minutes=i)
        p = 100 + 0.25 * i
        out.append((t.strftime("%Y-%m-%dT%H:%M:%SZ"), p, p + 1.5, p - 0.75, p + 0.5, 1000.0 + i))
    return out


def bars_csv(path, bars, newline="\n", bom=False):
    """Writes bars as a Yahoo-format CSV (repr keeps every double exact)."""
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [",".join([b[0], *(repr(x) for x in b[1:])]) for b in bars]
    return write_lines(path, lines, newline, bom)


def test_intraday_query_prints_time_of_day(db_path, tmp_path):
    """Checks 1m bars come back with their time of day (midnight too) and --to DATE covers the
    whole day."""
    bars = minute_bars(datetime(2020, 1, 2, 23, 55, tzinfo=timezone.utc), 10)  # across midnight
    path = bars_csv(tmp_path / "m1.csv", bars)
    db = f"sqlite:{db_path}"
    ok("import", "csv", path, "--symbol", "ES", "--interval", "1m", "--db", db)
    assert query(db, "ES", "--interval", "1m") == bars  # "2020-01-03T00:00:00Z" included
    assert query(db, "ES", "--interval", "1m", "--to", "2020-01-02") == [
        b for b in bars if b[0].startswith("2020-01-02")]
    assert query(db, "ES", "--interval", "1m", "--from", "2020-01-02T23:58:00Z",
                 "--to", "2020-01-03T00:01:00Z") == bars[3:7]
    doc = json.loads(ok("query", "candles", "ES", "--interval", "1m", "--format", "json",
                        "--db", db).stdout)
    assert [c["time"] for c in doc["candles"]] == [b[0] for b in bars]
    # Daily bars are not stored: they are derived from the minutes on read, one per UTC day.
    days = {}
    for t, o, h, l, c, v in bars:
        d = days.setdefault(t[:10], [o, h, l, c, 0.0])
        d[1], d[2], d[3], d[4] = max(d[1], h), min(d[2], l), c, d[4] + v
    assert query(db, "ES") == [(day, *d) for day, d in days.items()]


# --------------------------------------------------------------------------------------------
# Re-import and corrections


def test_reimport_changes_nothing(spx_db, db_path, sp500_bars):
    """Checks importing the same file again reports 0 new, N unchanged and leaves the data as is."""
    before = sqlite_state(db_path)
    before_query = ok("query", "candles", "SPX", "--db", spx_db).stdout
    r = ok("import", "csv", SP500, "--symbol", "SPX", "--db", spx_db)
    n = len(sp500_bars)
    assert f"{n} rows, 0 new, 0 replaced, {n} unchanged" in r.stdout, r.stdout
    assert sqlite_state(db_path) == before
    assert ok("query", "candles", "SPX", "--db", spx_db).stdout == before_query


def test_corrected_bar_is_replaced(spx_db, db_path, sp500_lines, sp500_bars, tmp_path):
    """Checks a file with one close changed reports 1 replaced and the query shows the new close."""
    lines = list(sp500_lines)
    row = 2000  # data row index; line row + 2 of the file
    cells = lines[row + 1].split(",")
    old_close, low = float(cells[4]), float(cells[3])
    new_close = (old_close + low) / 2  # still within [low, high]
    assert new_close != old_close
    cells[4] = repr(new_close)
    lines[row + 1] = ",".join(cells)
    fixed = write_lines(tmp_path / "fixed.csv", lines)
    r = ok("import", "csv", fixed, "--symbol", "SPX", "--db", spx_db)
    n = len(sp500_bars)
    assert f"{n} rows, 0 new, 1 replaced, {n - 1} unchanged" in r.stdout, r.stdout
    rows = query(spx_db, "SPX")
    expected = list(sp500_bars)
    expected[row] = (*expected[row][:4], new_close, expected[row][5])
    assert rows[row][4] == new_close
    assert rows == expected
    assert sqlite_state(db_path)["count"] == n


# --------------------------------------------------------------------------------------------
# Malformed files: exit 1, a message naming file, line and field, and the store untouched


def scaled_sp500_lines(sp500_lines, n=100):
    """The header and first n rows of the S&P file with every price times 1.01, so that a partial
    import of the good rows would change the store visibly."""
    out = [sp500_lines[0]]
    for line in sp500_lines[1:n + 1]:
        c = line.split(",")
        out.append(",".join([c[0], *(repr(float(x) * 1.01) for x in c[1:6]), c[6]]))
    return out


def break_line(lines, line_no, column, value):
    """Sets the cell at 1-based file line `line_no`, column index `column`."""
    cells = lines[line_no - 1].split(",")
    cells[column] = value
    lines[line_no - 1] = ",".join(cells)


def make_bad_date(lines):
    break_line(lines, 42, 0, "2002-13-45")
    return 42, ["'Date'"]


def make_non_numeric(lines):
    break_line(lines, 42, 2, "12x.5")
    return 42, ["'High'", "12x.5"]


def make_high_below_low(lines):
    cells = lines[41].split(",")
    cells[2], cells[3] = cells[3], cells[2]  # high and low swapped
    lines[41] = ",".join(cells)
    return 42, ["'High'", "Low"]


def make_duplicate_date(lines):
    lines.insert(42, lines[41])  # line 43 repeats line 42
    return 43, ["'Date'", "line 42"]


def make_empty(lines):
    lines.clear()
    return None, ["empty"]


def make_wrong_header(lines):
    lines[0] = "day,open,high,low,close,adjclose,volume"
    return 1, ["'day'", "header"]


MALFORMED = {
    "bad_date": make_bad_date,
    "non_numeric": make_non_numeric,
    "high_below_low": make_high_below_low,
    "duplicate_date": make_duplicate_date,
    "empty": make_empty,
    "wrong_header": make_wrong_header,
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_file_exits_1_and_leaves_store_unchanged(kind, spx_db, db_path, sp500_lines,
                                                           tmp_path):
    """Checks a malformed CSV exits 1 naming FILE:LINE and the field, and changes nothing stored."""
    lines = scaled_sp500_lines(sp500_lines)
    line_no, words = MALFORMED[kind](lines)
    bad = tmp_path / f"{kind}.csv"
    if lines:
        write_lines(bad, lines)
    else:
        bad.write_bytes(b"")
    before = sqlite_state(db_path)
    before_query = ok("query", "candles", "SPX", "--db", spx_db).stdout
    for symbol in ("SPX", "NEWSYM"):  # an existing asset and a new one
        r = tickgraph("import", "csv", bad, "--symbol", symbol, "--db", spx_db)
        assert r.returncode == EXIT_BAD_INPUT, f"{kind}: exit {r.returncode}: {r.stderr}"
        where = f"{bad}:{line_no}:" if line_no else f"{bad}:"
        assert where in r.stderr, r.stderr
        for w in words:
            assert w in r.stderr, r.stderr
        assert "committed" not in r.stdout
        assert sqlite_state(db_path) == before
        assert ok("query", "candles", "SPX", "--db", spx_db).stdout == before_query
    assert tickgraph("query", "candles", "NEWSYM", "--db", spx_db).returncode == EXIT_BAD_INPUT


@pytest.mark.parametrize("newline,bom", [("\r\n", False), ("\n", True), ("\r\n", True)],
                         ids=["crlf", "bom", "crlf+bom"])
def test_crlf_and_bom_are_accepted(newline, bom, db_path, sp500_lines, sp500_bars, tmp_path):
    """Checks a CSV with CRLF line ends and/or a UTF-8 BOM imports every row with its values."""
    path = write_lines(tmp_path / "dos.csv", sp500_lines[:301], newline=newline, bom=bom)
    assert (b"\r\n" in path.read_bytes()) == (newline == "\r\n")
    db = f"sqlite:{db_path}"
    r = ok("import", "csv", path, "--symbol", "DOS", "--db", db)
    assert "300 rows, 300 new" in r.stdout, r.stdout
    assert query(db, "DOS") == sp500_bars[:300]


def test_on_error_skip_imports_good_rows_and_reports_each_bad_line(db_path, sp500_lines,
                                                                   sp500_bars, tmp_path):
    """Checks --on-error skip stores exactly the good rows and names every skipped FILE:LINE."""
    lines = sp500_lines[:201]  # header and 200 rows: file line k holds data row k - 2
    for line_no, col, value in [(10, 0, "2000-02-30"), (25, 4, "n/a"), (77, 1, "null")]:
        break_line(lines, line_no, col, value)
    cells = lines[119].split(",")  # line 120: high below low
    cells[2], cells[3] = cells[3], cells[2]
    lines[119] = ",".join(cells)
    lines.insert(150, lines[149])  # line 151 repeats line 150's date
    path = write_lines(tmp_path / "some_bad.csv", lines)
    db = f"sqlite:{db_path}"
    r = ok("import", "csv", path, "--symbol", "SKIP", "--on-error", "skip", "--db", db)
    for line_no in [10, 25, 77, 120, 151]:
        assert f"{path}:{line_no}:" in r.stderr, r.stderr
    assert r.stderr.count(f"{path}:") == 5, r.stderr
    assert "5 bad rows skipped" in r.stdout, r.stdout
    skipped_rows = {10 - 2, 25 - 2, 77 - 2, 120 - 2}  # data rows of the original file
    expected = [b for i, b in enumerate(sp500_bars[:200]) if i not in skipped_rows]
    assert query(db, "SKIP") == expected


def test_bars_not_aligned_to_interval_are_refused(spx_db, db_path, sp500_lines, tmp_path):
    """Checks an intraday time in a --interval 1d import (and a :30 second in 1m) is refused,
    exit 1, naming the bar, with the store unchanged."""
    lines = scaled_sp500_lines(sp500_lines)
    break_line(lines, 42, 0, lines[41].split(",")[0] + "T14:30:00Z")
    daily = write_lines(tmp_path / "unaligned_1d.csv", lines)
    minute = bars_csv(tmp_path / "unaligned_1m.csv",
                      minute_bars(datetime(2020, 1, 2, 14, 30, 30, tzinfo=timezone.utc), 3))
    before = sqlite_state(db_path)
    before_query = ok("query", "candles", "SPX", "--db", spx_db).stdout
    for path, interval, stamp in [(daily, "1d", lines[41].split(",")[0]),
                                  (minute, "1m", "2020-01-02T14:30:30Z")]:
        r = tickgraph("import", "csv", path, "--symbol", "SPX", "--interval", interval,
                      "--db", spx_db)
        assert r.returncode == EXIT_BAD_INPUT, r.stderr
        assert stamp in r.stderr and "aligned" in r.stderr, r.stderr
        assert sqlite_state(db_path) == before
        assert ok("query", "candles", "SPX", "--db", spx_db).stdout == before_query


# --------------------------------------------------------------------------------------------
# compute --db


@pytest.mark.parametrize("bounds", [
    ("--from", "2020-01-02"),
    ("--from", "2008-09-15", "--to", "2009-03-09"),
])
@pytest.mark.parametrize("mode", ["pull", "push"])
def test_compute_from_store_equals_compute_from_csv(spx_db, mode, bounds):
    """Checks compute --db prints exactly what compute --csv prints for the same range (warm-up
    history comes from the store)."""
    from_db = ok("compute", "--db", spx_db, "--symbol", "SPX", "--spec", DEMO, "--mode", mode,
                 *bounds)
    from_csv = ok("compute", "--csv", f"SPX={SP500}", "--spec", DEMO, "--mode", mode, *bounds)
    assert from_db.stdout.count("\n") > 10
    assert from_db.stdout == from_csv.stdout
    assert from_db.stderr == ""


def test_compute_from_store_unknown_symbol_exits_1(spx_db):
    """Checks compute --db with an asset not in the database exits 1 naming it."""
    r = tickgraph("compute", "--db", spx_db, "--symbol", "QQQ", "--spec", DEMO)
    assert r.returncode == EXIT_BAD_INPUT
    assert "QQQ" in r.stderr
    assert r.stdout == ""


# --------------------------------------------------------------------------------------------
# The default database


def test_default_database_gets_demo_data_on_first_use(isolated_home, sp500_bars):
    """Checks the first command without --db creates ~/.local/share/tickgraph/tickgraph.db,
    imports the demo data as SPX (saying so on stderr) and later commands do not repeat it."""
    default = isolated_home / ".local" / "share" / "tickgraph" / "tickgraph.db"
    assert not default.exists()
    first = ok("query", "candles", "SPX")
    assert "demo data" in first.stderr and str(default) in first.stderr, first.stderr
    assert default.is_file()
    head, rows = parse_query_csv(first.stdout)
    assert head == HEADER
    assert len(rows) == len(sp500_bars)
    assert rows == sp500_bars
    second = ok("query", "candles", "SPX", "--limit", 3)
    assert second.stderr == ""
    assert parse_query_csv(second.stdout)[1] == sp500_bars[:3]
    state = sqlite_state(default)
    assert state["count"] == len(sp500_bars)
    assert [a[1] for a in state["assets"]] == ["SPX"]


def test_default_database_first_command_may_be_an_import(isolated_home, tmp_path, sp500_bars):
    """Checks an import as the first command lands next to the demo data in the default file."""
    bars = minute_bars(datetime(2021, 3, 1, 15, 0, tzinfo=timezone.utc), 5)
    path = bars_csv(tmp_path / "m.csv", bars)
    r = ok("import", "csv", path, "--symbol", "ES", "--interval", "1m")
    assert "demo data" in r.stderr, r.stderr
    assert query(None, "ES", "--interval", "1m") == bars
    assert query(None, "SPX") == sp500_bars


def test_tickgraph_db_overrides_default_location(isolated_home, tmp_path, sp500_bars):
    """Checks $TICKGRAPH_DB (a sqlite: URL) is used instead of the file under HOME."""
    elsewhere = tmp_path / "elsewhere" / "mine.db"
    env = {"TICKGRAPH_DB": f"sqlite:{elsewhere}"}
    r = ok("query", "candles", "SPX", env=env)
    assert str(elsewhere) in r.stderr, r.stderr
    assert parse_query_csv(r.stdout)[1] == sp500_bars
    assert elsewhere.is_file()
    assert sqlite_state(elsewhere)["count"] == len(sp500_bars)
    assert not (isolated_home / ".local" / "share" / "tickgraph").exists()


def test_xdg_data_home_moves_default_location(isolated_home, tmp_path, sp500_bars):
    """Checks $XDG_DATA_HOME/tickgraph/tickgraph.db is the default when XDG_DATA_HOME is set."""
    xdg = tmp_path / "xdg"
    r = ok("query", "candles", "SPX", "--limit", 1, env={"XDG_DATA_HOME": str(xdg)})
    assert (xdg / "tickgraph" / "tickgraph.db").is_file()
    assert parse_query_csv(r.stdout)[1] == sp500_bars[:1]
    assert not (isolated_home / ".local" / "share" / "tickgraph").exists()


def test_explicit_db_gets_no_demo_data(db_path):
    """Checks a --db file is not seeded with demo data: SPX is unknown there."""
    r = tickgraph("query", "candles", "SPX", "--db", f"sqlite:{db_path}")
    assert r.returncode == EXIT_BAD_INPUT
    assert "demo" not in r.stderr
    assert sqlite_state(db_path)["count"] == 0


# --------------------------------------------------------------------------------------------
# fetch yahoo against a local replay server


class ReplayHandler(http.server.BaseHTTPRequestHandler):
    """Answers /v8/finance/chart/AAPL with the daily fixture and anything else with Yahoo's 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        path = urllib.parse.urlsplit(self.path).path
        if path == "/v8/finance/chart/AAPL":
            status, body = 200, (YAHOO / "aapl_1d_5d.json").read_bytes()
        else:
            status, body = 404, (YAHOO / "not_found_404.json").read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def yahoo_server():
    """A replay server on 127.0.0.1:<free port>; yields (base URL, list of request targets)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReplayHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def fixture_bars(name):
    """The fixture's non-null bars as [(exchange-local date, o, h, l, c, v)] and its null bars'
    dates, read from the JSON."""
    result = json.loads((YAHOO / name).read_text())["chart"]["result"][0]
    offset = result["meta"]["gmtoffset"]
    quote = result["indicators"]["quote"][0]
    bars, nulls = [], []
    for i, t in enumerate(result["timestamp"]):
        day = datetime.fromtimestamp(t + offset, timezone.utc).strftime("%Y-%m-%d")
        values = [quote[k][i] for k in FIELDS]
        if any(v is None for v in values):
            nulls.append(day)
        else:
            bars.append((day, *map(float, values)))
    return bars, nulls


def test_fetch_yahoo_stores_fixture_bars(yahoo_server, db_path):
    """Checks fetch yahoo stores the response's bars, reports the null bar on stderr and asks for
    /v8/finance/chart/AAPL with range=5d and interval=1d."""
    url, requests = yahoo_server
    db = f"sqlite:{db_path}"
    expected, nulls = fixture_bars("aapl_1d_5d.json")
    assert nulls, "the fixture is expected to hold a null bar"
    r = ok("fetch", "yahoo", "AAPL", "--range", "5d", "--db", db,
           env={"TICKGRAPH_YAHOO_URL": url})
    for day in nulls:
        assert day in r.stderr and "null" in r.stderr, r.stderr
    assert "AAPL" in r.stdout and f"{len(expected)} new" in r.stdout, r.stdout
    assert query(db, "AAPL") == expected
    assert len(requests) == 1, requests
    target = urllib.parse.urlsplit(requests[0])
    assert target.path == "/v8/finance/chart/AAPL"
    params = urllib.parse.parse_qs(target.query)
    assert params["range"] == ["5d"]
    assert params["interval"] == ["1d"]
    # Fetching again changes nothing.
    again = ok("fetch", "yahoo", "AAPL", "--range", "5d", "--db", db,
               env={"TICKGRAPH_YAHOO_URL": url})
    assert f"0 new, 0 replaced, {len(expected)} unchanged" in again.stdout, again.stdout
    assert query(db, "AAPL") == expected


def test_fetch_yahoo_unknown_symbol_exits_3_and_stores_nothing(yahoo_server, db_path):
    """Checks a 404 from the API exits 3 with the API's description and stores nothing."""
    url, requests = yahoo_server
    db = f"sqlite:{db_path}"
    description = json.loads((YAHOO / "not_found_404.json").read_text())["chart"]["error"][
        "description"]
    r = tickgraph("fetch", "yahoo", "NOSUCH", "--range", "5d", "--db", db,
                  env={"TICKGRAPH_YAHOO_URL": url})
    assert r.returncode == EXIT_FAILURE, r.stderr
    assert description in r.stderr and "NOSUCH" in r.stderr, r.stderr
    assert "404" in r.stderr, r.stderr
    assert [urllib.parse.urlsplit(t).path for t in requests] == ["/v8/finance/chart/NOSUCH"]
    state = sqlite_state(db_path)
    assert state["count"] == 0
    assert state["assets"] == []
    assert tickgraph("query", "candles", "NOSUCH", "--db", db).returncode == EXIT_BAD_INPUT


def test_fetch_yahoo_one_bad_symbol_does_not_stop_the_others(yahoo_server, db_path):
    """Checks fetch of AAPL and an unknown symbol stores AAPL but exits 3 for the unknown one."""
    url, _ = yahoo_server
    db = f"sqlite:{db_path}"
    expected, _ = fixture_bars("aapl_1d_5d.json")
    r = tickgraph("fetch", "yahoo", "NOSUCH", "AAPL", "--range", "5d", "--db", db,
                  env={"TICKGRAPH_YAHOO_URL": url})
    assert r.returncode == EXIT_FAILURE, r.stderr
    assert "NOSUCH" in r.stderr
    assert query(db, "AAPL") == expected
    assert [a[1] for a in sqlite_state(db_path)["assets"]] == ["AAPL"]


# --------------------------------------------------------------------------------------------
# Usage errors


@pytest.mark.parametrize("args", [
    ("import", "csv", str(SP500)),                                  # no --symbol
    ("import", "csv", "--symbol", "SPX"),                           # no file
    ("import", "csv", str(SP500), "--symbol", "SPX", "--on-error", "ignore"),
    ("import",),                                                    # no subcommand
    ("query", "candles", "SPX", "--format", "xml"),
    ("query", "candles"),                                           # no symbol
    ("fetch", "yahoo"),                                             # no symbol
])
def test_usage_errors_exit_2(args, db_path):
    """Checks missing arguments and bad option values exit 2 with a message, touching no store."""
    r = tickgraph(*args, "--db", f"sqlite:{db_path}")
    assert r.returncode == EXIT_USAGE, f"{args}: exit {r.returncode}: {r.stderr}"
    assert r.stderr != ""
    assert not db_path.exists()


@pytest.mark.parametrize("args,named", [
    (["fetch", "yahoo", "SPY", "--interval", "1s"], "1s"),
    (["fetch", "yahoo", "A B"], "A B"),
])
def test_fetch_bad_input_exits_1_before_any_request(args, named, db_path):
    """A fetch with an interval Yahoo lacks or an invalid symbol is bad input (exit 1), refused
    before any request: the address given for the API is unreachable on purpose."""
    env = {"TICKGRAPH_YAHOO_URL": "http://127.0.0.1:1"}
    r = tickgraph(*args, "--db", f"sqlite:{db_path}", env=env)
    assert r.returncode == 1, r.stderr
    assert named in r.stderr


def test_query_to_as_epoch_number_is_an_instant_not_a_day(spx_db):
    """--to 946944001s (2000-01-04T00:00:01Z) ends at that instant; only a date alone means the
    whole day."""
    by_epoch = query(spx_db, "SPX", "--from", "2000-01-03", "--to", "946944001s")
    by_date = query(spx_db, "SPX", "--from", "2000-01-03", "--to", "2000-01-04")
    assert [b[0] for b in by_epoch] == ["2000-01-03", "2000-01-04"]
    assert by_epoch == by_date
