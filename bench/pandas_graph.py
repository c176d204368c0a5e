#!/usr/bin/python3
"""The 9-node graph of graph_pull_bench in pandas, against our pull of it, in one run.

    /usr/bin/python3 bench/pandas_graph.py [--bin build/bin/graph_pull_bench] [--points N]
    /usr/bin/python3 bench/pandas_graph.py --ours build/bench/graph_pull.json   # no C++ run

Without --ours it first runs graph_pull_bench (our pull and the kernels alone, medians of 5) with
the same number of points, then times pandas 1.5 computing the same 13 outputs over the same kind
of data (a mean-reverting random walk of one-minute bars; each pandas run builds its result
DataFrame, as our pull builds its table) and prints ns per bar and the ratio pandas / ours (the
goal is >= 12x). pandas' EMAs and Wilder smoothing use its own seeding (ewm with adjust=False from
the first value, where TA-Lib seeds with an SMA), so the numbers differ slightly in the warm-up;
the work is the same. This is a benchmark: it reports and asserts nothing. Debian's Python has
numpy and pandas (the python3 first on PATH may not).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def random_walk(n, seed=20240611):
    """OHLC bars like graph_pull_bench's: log price an AR(1) around log 100, 10% gaps of 3 min."""
    rng = np.random.default_rng(seed)
    a = 1e-4
    steps = rng.normal(0.0, 0.01, n)
    log_price = pd.Series(steps).ewm(alpha=a, adjust=False).mean().to_numpy() / a
    close = 100 * np.exp(log_price)
    open_ = np.concatenate(([100.0], close[:-1]))
    minutes = np.cumsum(np.where(rng.random(n) < 0.1, 3, 1))
    index = pd.to_datetime(1_600_000_000 + 60 * minutes, unit="s", utc=True)
    return pd.DataFrame({
        "open": open_,
        "high": np.maximum(open_, close) * (1 + 0.005 * rng.random(n)),
        "low": np.minimum(open_, close) * (1 - 0.005 * rng.random(n)),
        "close": close,
        "volume": np.floor(1000 + 9000 * rng.random(n)),
    }, index=index)


def wilder(x, period):
    return x.ewm(alpha=1.0 / period, adjust=False).mean()


def graph(df):
    """ret, sma50, sma200, ema20, rsi14, macd 12/26/9, bbands 20/2, atr14, stddev20 of ret."""
    close = df["close"]
    out = {}
    out["ret"] = close.pct_change()
    out["sma50"] = close.rolling(50).mean()
    out["sma200"] = close.rolling(200).mean()
    out["ema20"] = close.ewm(span=20, adjust=False).mean()
    delta = close.diff()
    gain = wilder(delta.clip(lower=0), 14)
    loss = wilder(-delta.clip(upper=0), 14)
    out["rsi"] = 100 - 100 / (1 + gain / loss)
    macd = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    signal = macd.ewm(span=9, adjust=False).mean()
    out["macd.macd"], out["macd.signal"], out["macd.hist"] = macd, signal, macd - signal
    mid = close.rolling(20).mean()
    sd = close.rolling(20).std(ddof=0)
    out["bb.upper"], out["bb.middle"], out["bb.lower"] = mid + 2 * sd, mid, mid - 2 * sd
    prev = close.shift(1)
    true_range = pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(),
                            (df["low"] - prev).abs()], axis=1).max(axis=1)
    out["atr"] = wilder(true_range, 14)
    out["sd"] = out["ret"].rolling(20).std(ddof=0)
    return pd.DataFrame(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=str(ROOT / "build" / "bin" / "graph_pull_bench"))
    parser.add_argument("--ours", help="graph_pull_bench's JSON (then it is not run here)")
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if args.ours:
        ours = json.loads(Path(args.ours).read_text())
    else:
        json_path = ROOT / "build" / "bench" / "graph_pull.json"
        env = dict(os.environ, TICKGRAPH_BENCH_POINTS=str(args.points))
        subprocess.run([args.bin, f"--json={json_path}"], check=True, env=env)
        ours = json.loads(json_path.read_text())
    n = ours["points"]

    df = random_walk(n)
    times = []
    for _ in range(args.repeats):
        start = time.process_time()
        result = graph(df)
        times.append(time.process_time() - start)
        if result.shape != (n, 13):
            sys.exit(f"pandas_graph: expected {n} rows of 13 outputs, got {result.shape}")
    pandas_ns = statistics.median(times) * 1e9 / n

    print(f"\n9 nodes, 13 outputs, {n} bars (medians, CPU time):")
    print(f"  pandas {pd.__version__:>8}   {pandas_ns:7.1f} ns/bar")
    print(f"  tickgraph pull      {ours['pull_ns_per_bar']:7.1f} ns/bar"
          f"  -> pandas / pull = {pandas_ns / ours['pull_ns_per_bar']:.1f}x (goal >= 12x)")
    print(f"  its kernels alone   {ours['kernels_ns_per_bar']:7.1f} ns/bar"
          f"  -> pandas / kernels = {pandas_ns / ours['kernels_ns_per_bar']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
