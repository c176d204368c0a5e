#!/usr/bin/python3
"""Times pandas' equivalents of tickgraph's kernels and compares them with ours.

Run with Debian's Python, which has numpy and pandas (the python3 first on PATH may not):

    build/bin/kernels_bench                 # writes build/bench/kernels.json
    /usr/bin/python3 bench/pandas_kernels.py [--ours build/bench/kernels.json] [--points N]

The data are the same kind as kernels_bench's (a mean-reverting random walk with coherent OHLCV
and a second correlated walk, as many points as the JSON says), each pandas expression runs
--repeats times and its median CPU time is compared with our median CPU time for the function
with its default parameters. Equivalents marked ~ compute the same kind of thing but not exactly
what our kernel does (pandas seeds EMAs differently from TA-Lib, say); the timings still compare
like with like. This is a benchmark: it reports and asserts nothing.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_OURS = Path(__file__).resolve().parent.parent / "build" / "bench" / "kernels.json"


def random_walk(n, seed=20240611):
    """OHLCV plus a second series, as in kernels_bench.cc: log price is an AR(1) around log 100."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.01, n)
    # x_t = (1 - a) x_{t-1} + e_t is an exponentially weighted mean of e, scaled by 1/a.
    a = 1e-4
    log_price = pd.Series(steps).ewm(alpha=a, adjust=False).mean().to_numpy() / a
    close = 100 * np.exp(log_price)
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + 0.005 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.005 * rng.random(n))
    volume = np.floor(1000 + 9000 * rng.random(n))
    other_steps = 0.5 * rng.normal(0.0, 0.01, n) + 0.5 * np.diff(np.log(close), prepend=0.0)
    other = 50 * np.exp(pd.Series(other_steps).ewm(alpha=a, adjust=False).mean().to_numpy() / a)
    return pd.DataFrame(
        {"high": high, "low": low, "close": close, "volume": volume, "other": other}
    )


def equivalents(df):
    """Our function name -> (note, callable computing pandas' version with our defaults)."""
    c, h, lo, v, o = df["close"], df["high"], df["low"], df["volume"], df["other"]
    ret_c, ret_o = c.pct_change(), o.pct_change()

    def trange():
        prev = c.shift()
        return np.maximum(h, prev) - np.minimum(lo, prev)

    def stoch():
        lowest, highest = lo.rolling(5).min(), h.rolling(5).max()
        fast_k = (c - lowest) / (highest - lowest) * 100
        slow_k = fast_k.rolling(3).mean()
        return slow_k, slow_k.rolling(3).mean()

    def zscore():
        return (c - c.rolling(20).mean()) / c.rolling(20).std(ddof=0)

    def vwap():
        tp = (h + lo + c) / 3
        return (tp * v).rolling(20).sum() / v.rolling(20).sum()

    def macd():
        line = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
        signal = line.ewm(span=9, adjust=False).mean()
        return line, signal, line - signal

    def bbands():
        mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
        return mid + 2 * sd, mid, mid - 2 * sd

    def rsi():
        d = c.diff()
        up = d.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        down = (-d).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        return 100 * up / (up + down)

    def dema():
        e = c.ewm(span=20, adjust=False).mean()
        return 2 * e - e.ewm(span=20, adjust=False).mean()

    def tema():
        e1 = c.ewm(span=20, adjust=False).mean()
        e2 = e1.ewm(span=20, adjust=False).mean()
        return 3 * e1 - 3 * e2 + e2.ewm(span=20, adjust=False).mean()

    def willr():
        highest, lowest = h.rolling(14).max(), lo.rolling(14).min()
        return (highest - c) / (highest - lowest) * -100

    return {
        "sma": ("rolling(20).mean()", lambda: c.rolling(20).mean()),
        "ema": ("~ ewm(span=20, adjust=False)", lambda: c.ewm(span=20, adjust=False).mean()),
        "dema": ("~ ewm chain", dema),
        "tema": ("~ ewm chain", tema),
        "macd": ("~ ewm(12) - ewm(26), ewm(9)", macd),
        "rsi": ("~ ewm(alpha=1/14) of gains/losses", rsi),
        "stddev": ("rolling(20).std(ddof=0)", lambda: c.rolling(20).std(ddof=0)),
        "var": ("rolling(20).var(ddof=0)", lambda: c.rolling(20).var(ddof=0)),
        "bbands": ("rolling mean +- 2 std(ddof=0)", bbands),
        "zscore": ("(x - rolling mean) / rolling std(ddof=0)", zscore),
        "volatility": ("rolling(20).std() * sqrt(252) on returns",
                       lambda: ret_c.rolling(20).std() * np.sqrt(252)),
        "rolling_max": ("rolling(20).max()", lambda: c.rolling(20).max()),
        "rolling_min": ("rolling(20).min()", lambda: c.rolling(20).min()),
        "drawdown": ("x / cummax() - 1", lambda: c / c.cummax() - 1),
        "pct_change": ("pct_change()", lambda: c.pct_change()),
        "log_return": ("np.log(x / x.shift())", lambda: np.log(c / c.shift())),
        "mom": ("diff(10)", lambda: c.diff(10)),
        "roc": ("pct_change(10) * 100", lambda: c.pct_change(10) * 100),
        "trange": ("max(h, prev c) - min(l, prev c)", trange),
        "atr": ("~ ewm(alpha=1/14) of true range", lambda: trange().ewm(alpha=1 / 14,
                                                                        adjust=False).mean()),
        "willr": ("rolling max/min", willr),
        "stoch": ("rolling max/min, rolling means", stoch),
        "obv": ("(sign(diff) * volume).cumsum()",
                lambda: (np.sign(c.diff()).fillna(0) * v).cumsum() + v.iloc[0]),
        "vwap": ("rolling sums of tp * v and v", vwap),
        "correlation": ("rolling(20).corr()", lambda: c.rolling(20).corr(o)),
        "beta": ("rolling cov / var on returns",
                 lambda: ret_c.rolling(20).cov(ret_o) / ret_o.rolling(20).var()),
        "add": ("a + b", lambda: c + o),
        "sub": ("a - b", lambda: c - o),
        "mul": ("a * b", lambda: c * o),
        "div": ("a / b", lambda: c / o),
    }


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", type=Path, default=DEFAULT_OURS,
                        help="kernels_bench's JSON (default: %(default)s)")
    parser.add_argument("--points", type=int, help="points (default: the JSON's, else 10M)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", help="comma-separated function names")
    args = parser.parse_args()

    ours = {}
    points = args.points
    if args.ours.exists():
        doc = json.loads(args.ours.read_text())
        ours = doc.get("ours", {})
        points = points or doc.get("points")
    else:
        print(f"pandas_kernels: {args.ours} not found; run kernels_bench first for ratios",
              file=sys.stderr)
    points = points or 10_000_000

    print(f"pandas {pd.__version__}, numpy {np.__version__}, {points} points, "
          f"median CPU time of {args.repeats} runs", file=sys.stderr)
    df = random_walk(points)
    table = equivalents(df)
    names = args.only.split(",") if args.only else list(table)

    print(f"{'function':<12} {'pandas ms':>10} {'ours ms':>10} {'ours/pandas':>12}  pandas")
    for name in names:
        note, fn = table[name]
        fn()  # warm up (allocations, lazy imports)
        pandas_ms = median_ms(fn, args.repeats)
        if name in ours:
            print(f"{name:<12} {pandas_ms:>10.2f} {ours[name]:>10.2f} "
                  f"{ours[name] / pandas_ms:>12.3f}  {note}")
        else:
            print(f"{name:<12} {pandas_ms:>10.2f} {'-':>10} {'-':>12}  {note}")
    missing = sorted(set(ours) - set(table))
    if missing:
        print(f"no pandas equivalent timed: {', '.join(missing)}")


if __name__ == "__main__":
    main()
