"""End-to-end tests of the `tickgraph` command line, driving the real binary.

The binary is $TICKGRAPH_BIN (default: <repo>/build/bin/tickgraph). Data is the S&P 500 daily
series from vega-datasets (scripts/deps, installed by scripts/bootstrap.sh); files derived from it
are generated in pytest's tmp_path. Oracles are pandas (rolling means, covariances, correlations),
Python's own date comparisons and TA-Lib's documented lookbacks, never tickgraph's own output.

Run with Debian's interpreter, which has pytest and pandas:
    TICKGRAPH_BIN=build/bin/tickgraph /usr/bin/python3 -m pytest -q tests/e2e
"""

import io
import json
import math
import os
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TICKGRAPH_BIN", REPO / "build" / "bin" / "tickgraph"))
SP500 = REPO / "scripts" / "deps" / "node_modules" / "vega-datasets" / "data" / "sp500-2000.csv"
DEMO = REPO / "examples" / "demo.yaml"

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2


def tickgraph(*args, timeout=300):
    """Runs the binary with `args`; returns the CompletedProcess (stdout/stderr as bytes)."""
    assert BIN.is_file(), f"tickgraph binary not found at {BIN}; build it or set TICKGRAPH_BIN"
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, timeout=timeout)


def compute(*args):
    """Runs `tickgraph compute ARGS`, requires success and returns stdout as bytes."""
    r = tickgraph("compute", *args)
    assert r.returncode == EXIT_OK, f"compute {args} exited {r.returncode}: {r.stderr.decode()}"
    assert r.stderr == b"", r.stderr.decode()
    return r.stdout


def table(csv_bytes):
    """Parses a result CSV: dates as text, empty cells as NaN."""
    return pd.read_csv(io.BytesIO(csv_bytes), dtype={"date": str}, keep_default_na=False,
                       na_values=[""])


def header(csv_bytes):
    return csv_bytes.split(b"\n", 1)[0].decode().split(",")


def write_spec(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def first_valid(series):
    """Index of the first non-NaN value, or None."""
    idx = series.first_valid_index()
    return None if idx is None else int(idx)


@pytest.fixture(scope="module")
def sp500():
    assert SP500.is_file(), f"{SP500} missing: run scripts/bootstrap.sh"
    return pd.read_csv(SP500, dtype={"date": str})


@pytest.fixture(scope="module")
def registry():
    """`tickgraph functions --json`, by name."""
    r = tickgraph("functions", "--json")
    assert r.returncode == EXIT_OK, r.stderr.decode()
    return {f["name"]: f for f in json.loads(r.stdout)}


@pytest.fixture(scope="module")
def demo_full():
    """The demo spec over the whole S&P 500 file, pull mode."""
    return compute("--csv", f"SPX={SP500}", "--spec", DEMO)


# --------------------------------------------------------------------------------------------
# compute: push equals pull


@pytest.mark.parametrize("bounds", [
    (),
    ("--from", "2008-09-15", "--to", "2009-03-09"),
    ("--from", "2000-01-03", "--to", "2000-06-30"),
    ("--from", "2000-02-15"),
    ("--to", "2001-01-31"),
    ("--from", "2020-04-17", "--to", "2020-04-17"),
])
def test_push_and_pull_print_identical_files_for_demo(bounds):
    """Checks `--mode pull` and `--mode push` print byte-identical CSV for the demo spec."""
    args = ("--csv", f"SPX={SP500}", "--spec", DEMO, *bounds)
    pull = compute(*args, "--mode", "pull")
    push = compute(*args, "--mode", "push")
    assert pull.count(b"\n") >= 2, "expected a header and at least one row"
    assert push == pull
    # Not trivially equal: on runs long enough to warm up, every column has values.
    t = table(pull)
    if len(t) > 250:
        for column in t.columns[1:]:
            assert t[column].notna().any(), f"column {column} is empty throughout"


def test_default_mode_is_pull(demo_full):
    """Checks compute without --mode prints what --mode pull prints."""
    assert compute("--csv", f"SPX={SP500}", "--spec", DEMO, "--mode", "pull") == demo_full


# --------------------------------------------------------------------------------------------
# compute: table shape


def test_header_is_date_then_every_output_in_spec_order(demo_full, registry):
    """Checks the header is `date,` then every node's outputs in spec order (bb.upper …)."""
    spec = yaml.safe_load(DEMO.read_text())
    expected = ["date"]
    for node_id, node in spec["nodes"].items():
        outputs = registry[node["fn"]]["outputs"]
        expected += [f"{node_id}.{o}" for o in outputs] if outputs else [node_id]
    assert header(demo_full) == expected
    h = header(demo_full)
    i = h.index("bb.upper")
    assert h[i:i + 3] == ["bb.upper", "bb.middle", "bb.lower"]


def test_rows_are_the_csv_dates(demo_full, sp500):
    """Checks a full run has one row per CSV bar, dated as in the CSV, in order."""
    assert list(table(demo_full)["date"]) == list(sp500["date"])


@pytest.mark.parametrize("period", [1, 2, 5, 50, 200])
def test_sma_first_value_is_row_period_minus_one(tmp_path, period):
    """Checks an sma of period N is empty on rows 0..N-2 and filled from row N-1 to the end."""
    spec = write_spec(tmp_path, f"nodes:\n  s: {{fn: sma, input: close, period: {period}}}\n")
    t = table(compute("--csv", f"SPX={SP500}", "--spec", spec))
    assert t["s"].iloc[:period - 1].isna().all()
    assert t["s"].iloc[period - 1:].notna().all()


# TA-Lib's lookbacks (ta_func/*.c, *_Lookback) at the demo's parameters: the index of the first
# value when starting from the first bar. pct_change needs one previous close; volatility of
# returns over 20 bars starts 19 bars after the first return; drawdown is defined from bar 0.
DEMO_FIRST_VALUE = {
    "ret": 1, "sma50": 49, "sma200": 199, "ema20": 19, "rsi": 14,
    "macd.macd": 33, "macd.signal": 33, "macd.hist": 33,
    "bb.upper": 19, "bb.middle": 19, "bb.lower": 19,
    "atr": 14, "vol": 20, "dd": 0,
}


def test_demo_cells_empty_before_warmup_only(demo_full):
    """Checks each demo column is empty exactly before its TA-Lib lookback and filled after."""
    t = table(demo_full)
    for column in t.columns[1:]:
        first = first_valid(t[column])
        assert first is not None, f"{column} has no value"
        assert t[column].iloc[first:].notna().all(), f"{column} has empty cells after warm-up"
        if column in DEMO_FIRST_VALUE:
            assert first == DEMO_FIRST_VALUE[column], f"{column} starts at row {first}"


# --------------------------------------------------------------------------------------------
# compute: --from / --to


@pytest.mark.parametrize("lo,hi", [
    ("2008-09-15", "2009-03-09"),   # both trading days: both included
    ("2008-09-13", "2009-03-08"),   # Saturday to Sunday
    ("2000-01-01", "2000-03-31"),   # before the first bar
    ("2020-03-02", "2030-01-01"),   # past the last bar
])
def test_from_to_restrict_rows_inclusively(lo, hi, demo_full, sp500):
    """Checks --from/--to keep exactly the CSV dates d with FROM <= d <= TO, in both modes."""
    expected = [d for d in sp500["date"] if lo <= d <= hi]
    assert expected, "test range holds no bars"
    for mode in ("pull", "push"):
        out = compute("--csv", f"SPX={SP500}", "--spec", DEMO, "--from", lo, "--to", hi,
                      "--mode", mode)
        assert header(out) == header(demo_full)
        assert list(table(out)["date"]) == expected, mode


@pytest.mark.parametrize("lo,hi", [
    ("2008-09-15", "2009-03-09"),
    ("2000-01-03", "2000-12-29"),
    ("2000-04-03", "2000-11-30"),  # starts before sma200 can be warm from the file's history
    ("2019-01-02", "2020-04-17"),
])
def test_sma_in_range_equals_full_run(lo, hi, demo_full):
    """Checks sma values inside --from/--to equal the full run's, to 1e-12 relative."""
    full = table(demo_full).set_index("date")
    for mode in ("pull", "push"):
        part = table(compute("--csv", f"SPX={SP500}", "--spec", DEMO, "--from", lo, "--to", hi,
                             "--mode", mode)).set_index("date")
        for column in ("sma50", "sma200"):
            ref = full.loc[part.index, column]
            got = part[column]
            # Bars before --from are loaded for warm-up, so emptiness matches the full run.
            assert list(got.isna()) == list(ref.isna()), f"{mode} {column}: empty cells differ"
            for d, a, b in zip(part.index, got, ref):
                if not math.isnan(b):
                    assert math.isclose(a, b, rel_tol=1e-12), f"{mode} {column} {d}: {a} != {b}"


def test_range_start_uses_earlier_bars_for_warmup(demo_full):
    """Checks a range starting mid-file has sma200 filled from its first row (history is used)."""
    t = table(compute("--csv", f"SPX={SP500}", "--spec", DEMO, "--from", "2005-06-01",
                      "--to", "2005-06-30"))
    assert len(t) > 0
    assert t["sma200"].notna().all()
    assert t["sma50"].notna().all()


# --------------------------------------------------------------------------------------------
# compute: values against pandas


@pytest.mark.parametrize("period", [5, 50, 200])
def test_sma_matches_pandas_rolling_mean(tmp_path, sp500, period):
    """Checks an sma column equals pandas' rolling mean of the CSV's close to 1e-9 relative."""
    spec = write_spec(tmp_path, f"nodes:\n  s: {{fn: sma, input: close, period: {period}}}\n")
    for mode in ("pull", "push"):
        got = table(compute("--csv", f"SPX={SP500}", "--spec", spec, "--mode", mode))["s"]
        ref = sp500["close"].rolling(period).mean()
        assert list(got.isna()) == list(ref.isna())
        for i, (a, b) in enumerate(zip(got, ref)):
            if not math.isnan(b):
                assert math.isclose(a, b, rel_tol=1e-9), f"{mode} row {i}: {a} != {b}"


# --------------------------------------------------------------------------------------------
# compute: --out


def test_out_file_holds_what_stdout_prints(tmp_path, demo_full):
    """Checks --out FILE writes the bytes stdout would show, and prints nothing itself."""
    out = tmp_path / "result.csv"
    r = tickgraph("compute", "--csv", f"SPX={SP500}", "--spec", DEMO, "--out", out)
    assert r.returncode == EXIT_OK, r.stderr.decode()
    assert r.stdout == b""
    assert out.read_bytes() == demo_full
    assert compute("--csv", f"SPX={SP500}", "--spec", DEMO, "--out", "-") == demo_full


# --------------------------------------------------------------------------------------------
# compute: two assets with different calendars

TWO_ASSET_SPEC = """\
# SPX against ALT, a distorted copy of SPX with a different calendar.
nodes:
  ret:  {fn: pct_change, input: close}
  beta: {fn: beta, inputs: [ret, "ALT:ret"], period: 20}
  corr: {fn: correlation, inputs: [ret, "ALT:ret"], period: 20}
  sma:  {fn: sma, input: close, period: 10}
"""


@pytest.fixture(scope="module")
def two_assets(tmp_path_factory, sp500):
    """Writes ALT: SPX's bars times a slowly varying factor, some dates dropped, a few added.

    Returns (directory, spec path, ALT's bars as a DataFrame, the dates ALT lacks).
    """
    d = tmp_path_factory.mktemp("two_assets")
    spx_dates = set(sp500["date"])
    dropped = set(sp500["date"].iloc[300::37]) | set(sp500["date"].iloc[1000:1005])
    next_day = [(date.fromisoformat(x) + timedelta(days=1)).isoformat() for x in sp500["date"]]
    # From each of these rows, the first bar whose next calendar day has no SPX bar.
    extra_after = {next(i for i in range(start, len(sp500)) if next_day[i] not in spx_dates)
                   for start in (500, 1500, 2500)}
    rows = []
    for i, bar in sp500.iterrows():
        f = 0.5 * (1 + 0.05 * math.sin(0.7 * i))  # positive, so OHLC order is kept
        scaled = [bar.open * f, bar.high * f, bar.low * f, bar.close * f]
        if bar.date not in dropped:
            rows.append([bar.date, *scaled, int(bar.volume)])
        if i in extra_after:  # a bar on a day SPX did not trade
            g = 0.5 * (1 + 0.05 * math.sin(0.7 * i + 0.35))
            rows.append([next_day[i], bar.open * g, bar.high * g, bar.low * g, bar.close * g,
                         int(bar.volume)])
    alt = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    with open(d / "alt.csv", "w") as out:  # repr: the exact doubles pandas holds
        out.write("Date,Open,High,Low,Close,Volume\n")
        for r in rows:
            out.write(",".join([r[0], *(repr(x) for x in r[1:5]), str(r[5])]) + "\n")
    spec = write_spec(d, TWO_ASSET_SPEC)
    return d, spec, alt, dropped


def two_asset_args(two_assets, *extra):
    d, spec, _, _ = two_assets
    return ("--csv", f"SPX={SP500}", "--csv", f"ALT={d / 'alt.csv'}", "--spec", spec,
            "--symbol", "SPX", *extra)


@pytest.mark.parametrize("bounds", [
    (),
    ("--from", "2001-03-01", "--to", "2004-12-31"),
    ("--from", "2000-01-03", "--to", "2000-02-29"),
    ("--from", "2019-06-01"),
])
def test_push_and_pull_identical_across_assets(two_assets, bounds):
    """Checks pull and push print identical files for beta/correlation across two calendars."""
    pull = compute(*two_asset_args(two_assets, *bounds, "--mode", "pull"))
    push = compute(*two_asset_args(two_assets, *bounds, "--mode", "push"))
    assert pull.count(b"\n") >= 2
    assert push == pull


def test_cross_asset_columns_empty_exactly_where_other_asset_lacks_bar(two_assets, sp500):
    """Checks beta and correlation are empty after warm-up exactly on dates ALT has no bar."""
    _, _, _, dropped = two_assets
    for mode in ("pull", "push"):
        t = table(compute(*two_asset_args(two_assets, "--mode", mode)))
        assert list(t["date"]) == list(sp500["date"]), "rows must follow the primary asset"
        after_warmup = t.iloc[100:]
        missing = dropped & set(after_warmup["date"])
        assert len(missing) > 100
        for column in ("beta", "corr"):
            empty = set(after_warmup["date"][after_warmup[column].isna()])
            assert empty == missing, f"{mode} {column}"
        # Single-asset columns do not care about the other calendar.
        assert t["ret"].iloc[1:].notna().all()
        assert t["sma"].iloc[9:].notna().all()


def test_cross_asset_beta_and_correlation_match_pandas(two_assets, sp500):
    """Checks beta and correlation equal pandas' over the joined timeline (1e-6 relative)."""
    _, _, alt, _ = two_assets
    spx_ret = sp500.set_index("date")["close"].pct_change()
    alt_ret = alt.set_index("date")["close"].pct_change()
    joined = pd.concat([spx_ret.rename("a"), alt_ret.rename("b")], axis=1, join="inner")
    roll = joined.rolling(20)
    ref_beta = (roll.cov().xs("b", level=1)["a"] / roll.var()["b"]).reindex(sp500["date"])
    ref_corr = roll.corr().xs("b", level=1)["a"].reindex(sp500["date"])
    t = table(compute(*two_asset_args(two_assets))).set_index("date")
    for column, ref in (("beta", ref_beta), ("corr", ref_corr)):
        got = t[column]
        assert list(got.isna()) == list(ref.isna()), f"{column}: empty cells differ from pandas"
        for d, a, b in zip(got.index, got, ref):
            if not math.isnan(b):
                assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{column} {d}: {a} != {b}"


# --------------------------------------------------------------------------------------------
# graph validate


def validate(spec, *extra):
    r = tickgraph("graph", "validate", spec, *extra)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_validate_demo_is_ok():
    """Checks `graph validate` accepts the demo spec and says ok."""
    rc, out, err = validate(DEMO)
    assert rc == EXIT_OK, err
    assert "ok" in out
    assert err == ""


def expect_invalid(spec, line, node, *needles, extra=()):
    """`graph validate` must exit 1 naming SPEC:LINE, the node, and each needle."""
    rc, out, err = validate(spec, *extra)
    assert rc == EXIT_BAD_INPUT, f"exit {rc}; stdout: {out}; stderr: {err}"
    assert f":{line}: node '{node}'" in err, err
    assert str(spec) in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    return err


def test_validate_unknown_function_suggests_name(tmp_path):
    """Checks an unknown function is named with its node, line and a did-you-mean."""
    spec = write_spec(tmp_path, "nodes:\n  fast: {fn: sma, input: close, period: 5}\n"
                                "  slow: {fn: smaa, input: close, period: 20}\n")
    expect_invalid(spec, 3, "slow", "unknown function 'smaa'", "did you mean 'sma'")


def test_validate_unknown_input(tmp_path):
    """Checks an input that is neither a bar field nor a node is named with its node and line."""
    spec = write_spec(tmp_path, "nodes:\n  ret: {fn: pct_change, input: close}\n"
                                "  vol: {fn: volatility, input: retn, period: 20}\n")
    expect_invalid(spec, 3, "vol", "unknown input 'retn'")


@pytest.mark.parametrize("param", ["period: 0", "period: -3", "period: 100000000"])
def test_validate_parameter_out_of_range(tmp_path, param, registry):
    """Checks a parameter outside its range names the node, the parameter and the valid range."""
    spec = write_spec(tmp_path, f"nodes:\n  s: {{fn: sma, input: close, {param}}}\n")
    err = expect_invalid(spec, 2, "s", "'period'", "out of range")
    period = next(p for p in registry["sma"]["params"] if p["name"] == "period")
    shown = re.search(r"\[([^,\]]+), ([^\]]+)\]", err)
    assert shown, err
    assert (float(shown[1]), float(shown[2])) == (period["min"], period["max"]), err


def test_validate_cycle_prints_path(tmp_path):
    """Checks a two-node cycle is refused with its path `a -> b -> a`."""
    spec = write_spec(tmp_path, "nodes:\n  a: {fn: sma, input: b, period: 3}\n"
                                "  b: {fn: ema, input: a, period: 3}\n")
    rc, _, err = validate(spec)
    assert rc == EXIT_BAD_INPUT
    assert "cycle" in err
    assert re.search(r"node '(a|b)'", err), err
    assert "a -> b -> a" in err or "b -> a -> b" in err, err


def test_validate_longer_and_self_cycles(tmp_path):
    """Checks a three-node cycle and a node reading itself are refused with their paths."""
    spec = write_spec(tmp_path, "nodes:\n  a: {fn: sma, input: c, period: 3}\n"
                                "  b: {fn: sma, input: a, period: 3}\n"
                                "  c: {fn: sma, input: b, period: 3}\n"
                                "  d: {fn: sma, input: d, period: 3}\n")
    rc, _, err = validate(spec)
    assert rc == EXIT_BAD_INPUT
    rotations = ["a -> c -> b -> a", "c -> b -> a -> c", "b -> a -> c -> b"]
    assert any(p in err for p in rotations), err
    assert "d -> d" in err, err


def test_validate_unknown_asset(tmp_path):
    """Checks --assets makes a reference to another asset unknown when not listed."""
    spec = write_spec(tmp_path, "nodes:\n  ret: {fn: pct_change, input: close}\n"
                                "  beta: {fn: beta, inputs: [ret, \"QQQ:ret\"], period: 20}\n")
    expect_invalid(spec, 3, "beta", "unknown asset 'QQQ'", extra=("--assets", "SPY,IWM"))
    rc, out, err = validate(spec, "--assets", "SPY,QQQ")
    assert rc == EXIT_OK, err
    assert "QQQ" in out


def test_validate_multi_output_input_needs_output_name(tmp_path):
    """Checks reading a multi-output node without `.output` is refused, listing its outputs."""
    spec = write_spec(tmp_path, "nodes:\n  bb: {fn: bbands, input: close, period: 20, k: 2}\n"
                                "  width: {fn: sma, input: bb, period: 5}\n")
    expect_invalid(spec, 3, "width", "'bb'", "bb.upper", "bb.middle", "bb.lower")
    ok = write_spec(tmp_path, "nodes:\n  bb: {fn: bbands, input: close, period: 20, k: 2}\n"
                              "  width: {fn: sma, input: bb.middle, period: 5}\n", "ok.yaml")
    rc, _, err = validate(ok)
    assert rc == EXIT_OK, err


def test_validate_reports_every_problem(tmp_path):
    """Checks several problems in one spec are all reported, each with its own node and line."""
    spec = write_spec(tmp_path, "nodes:\n  x: {fn: smaa, input: close, period: 5}\n"
                                "  y: {fn: sma, input: nothing, period: 5}\n"
                                "  z: {fn: sma, input: close, period: 0}\n")
    rc, _, err = validate(spec)
    assert rc == EXIT_BAD_INPUT
    assert ":2: node 'x'" in err and ":3: node 'y'" in err and ":4: node 'z'" in err, err


def test_validate_missing_spec_file(tmp_path):
    """Checks a spec path that does not exist exits 1 naming the path."""
    missing = tmp_path / "nope.yaml"
    rc, _, err = validate(missing)
    assert rc == EXIT_BAD_INPUT
    assert str(missing) in err


# --------------------------------------------------------------------------------------------
# compute: failures and exit codes


def test_compute_malformed_csv_names_file_line_and_field(tmp_path):
    """Checks a bad value in the CSV exits 1 with FILE:LINE and the field, printing no table."""
    lines = SP500.read_text().splitlines()[:100]
    fields = lines[41].split(",")  # line 42 of the file
    fields[4] = "null"             # close
    lines[41] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    r = tickgraph("compute", "--csv", f"SPX={bad}", "--spec", DEMO)
    assert r.returncode == EXIT_BAD_INPUT
    assert r.stdout == b""
    err = r.stderr.decode()
    assert f"{bad}:42:" in err, err
    assert "'Close'" in err, err


def test_compute_missing_csv_file(tmp_path):
    """Checks a --csv file that does not exist exits 1 naming the file."""
    missing = tmp_path / "missing.csv"
    r = tickgraph("compute", "--csv", f"SPX={missing}", "--spec", DEMO)
    assert r.returncode == EXIT_BAD_INPUT
    assert str(missing) in r.stderr.decode()
    assert r.stdout == b""


def test_compute_invalid_spec_exits_1(tmp_path):
    """Checks compute with an invalid spec exits 1 naming the node, like graph validate."""
    spec = write_spec(tmp_path, "nodes:\n  s: {fn: smaa, input: close, period: 5}\n")
    r = tickgraph("compute", "--csv", f"SPX={SP500}", "--spec", spec)
    assert r.returncode == EXIT_BAD_INPUT
    assert "node 's'" in r.stderr.decode()


@pytest.mark.parametrize("args", [
    ("compute", "--csv", "SPX=x.csv", "--spec", "demo.yaml", "--bogus"),
    ("compute", "--csv", str(SP500)),                                   # no --spec
    ("compute", "--spec", str(DEMO)),                                   # no --csv
    ("compute", "--csv", f"SPX={SP500}", "--spec", str(DEMO), "--mode", "sideways"),
    ("frobnicate",),
    (),
])
def test_usage_errors_exit_2(args):
    """Checks unknown options, missing required options and bad subcommands exit 2."""
    r = tickgraph(*args)
    assert r.returncode == EXIT_USAGE, f"{args}: exit {r.returncode}"
    assert r.stderr != b"", "a usage error must say what is wrong"


# --------------------------------------------------------------------------------------------
# functions


DEMO_FUNCTIONS = {"pct_change", "sma", "ema", "rsi", "macd", "bbands", "atr", "volatility",
                  "drawdown", "beta", "correlation"}


def test_functions_json_describes_each_function(registry):
    """Checks `functions --json` gives name, params (named) and outputs for each function."""
    assert DEMO_FUNCTIONS <= set(registry), DEMO_FUNCTIONS - set(registry)
    for name, f in registry.items():
        assert isinstance(f["name"], str) and f["name"] == name
        assert isinstance(f["params"], list)
        for p in f["params"]:
            assert isinstance(p["name"], str) and p["name"]
        assert isinstance(f["outputs"], list)
    assert registry["bbands"]["outputs"] == ["upper", "middle", "lower"]
    assert "period" in [p["name"] for p in registry["sma"]["params"]]


def test_functions_give_each_output_its_unit(registry):
    """Checks `functions --json` gives one unit per output (bounded ones with their range) and
    the text listing prints each output with its unit."""
    for name, f in registry.items():
        assert [u["name"] for u in f["output_units"]] == (f["outputs"] or [""]), name
        for u in f["output_units"]:
            assert ("min" in u) == (u["unit"] == "bounded"), name
    assert registry["rsi"]["output_units"] == [{"name": "", "unit": "bounded", "min": 0, "max": 100}]
    assert registry["vwap"]["output_units"] == [{"name": "", "unit": "same_as_input", "input": 2}]
    text = tickgraph("functions").stdout.decode()
    assert "  output:  <node> (bounded -100..0)\n" in text  # willr
    assert "  output:  <node>.hist (same units as input 'input', not its level)\n" in text


def test_functions_json_names_are_unique():
    """Checks no function is listed twice in `functions --json`."""
    r = tickgraph("functions", "--json")
    names = [f["name"] for f in json.loads(r.stdout)]
    assert len(names) == len(set(names))


def test_functions_text_lists_every_function(registry):
    """Checks the plain `functions` listing has an entry for every function in the JSON."""
    r = tickgraph("functions")
    assert r.returncode == EXIT_OK, r.stderr.decode()
    listed = set(re.findall(r"^(\w+) - ", r.stdout.decode(), re.M))
    assert listed == set(registry)


def test_every_function_runs_at_defaults_with_push_equal_to_pull(tmp_path, registry):
    """Checks every listed function validates at its defaults and gives push == pull."""
    fields = ["close", "open", "high", "low", "volume"]
    lines = ["nodes:"]
    for name, f in registry.items():
        node = f"{{fn: {name}"
        if not f.get("inputs_default_to_fields"):
            node += ", inputs: [" + ", ".join(fields[k % 4] for k in range(len(f["inputs"]))) + "]"
        lines.append(f"  n_{name}: {node}}}")
    spec = write_spec(tmp_path, "\n".join(lines) + "\n")
    rc, _, err = validate(spec)
    assert rc == EXIT_OK, err
    args = ("--csv", f"SPX={SP500}", "--spec", spec)
    pull = compute(*args, "--mode", "pull")
    push = compute(*args, "--mode", "push")
    assert push == pull
    t = table(pull)
    for column in t.columns[1:]:
        assert t[column].notna().any(), f"{column} never has a value"
