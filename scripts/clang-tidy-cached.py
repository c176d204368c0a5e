#!/usr/bin/python3
"""Runs clang-tidy on translation units, skipping those already found clean with the same input.

    scripts/clang-tidy-cached.py BUILD_DIR FILE...

A unit's input is everything clang-tidy's verdict depends on: the unit preprocessed with its own
compile command (every header it includes, comments kept so that NOLINT counts), the compile
flags, .clang-tidy and clang-tidy's version. Its SHA-256 names an empty file in the cache
(${XDG_CACHE_HOME:-~/.cache}/tickgraph/clang-tidy), written only when clang-tidy found nothing:
a unit with findings is checked again every time, and any change to it or to a header it includes
checks it again. Preprocessing costs about a second a unit where clang-tidy costs 10 to 100, so a
run after a small change checks only what the change reaches. Entries unused for 30 days are
removed. TICKGRAPH_TIDY_CACHE=0 checks every unit.

Units run in parallel (one per core); clang-tidy's findings go to stderr as it prints them, and the
exit status is 1 when any unit has a finding (2 on bad arguments)."""

import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_AGE_S = 30 * 24 * 3600
NOISE = ("warnings generated", "warning generated", "Suppressed ", "Use -header-filter")


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "tickgraph" / "clang-tidy"
    path.mkdir(parents=True, exist_ok=True)
    return path


def preprocess_command(entry):
    """The unit's compile command turned into `-E -C` to stdout (no object written)."""
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    return out + ["-E", "-C"]


def unit_key(entry, salt):
    """SHA-256 of the unit's preprocessed text (the checkout's path replaced, so that a clone
    elsewhere shares the cache), its flags and `salt`; None when it cannot be preprocessed."""
    run = subprocess.run(preprocess_command(entry), cwd=entry["directory"], capture_output=True)
    if run.returncode != 0:
        return None
    h = hashlib.sha256(salt)
    h.update(entry.get("command", " ".join(entry.get("arguments", []))).replace(
        str(ROOT), "@").encode())
    h.update(run.stdout.replace(str(ROOT).encode(), b"@"))
    return h.hexdigest()


def tidy(build_dir, unit):
    """clang-tidy on one unit: (found nothing, what it printed that is worth reading)."""
    run = subprocess.run(["clang-tidy", "-p", build_dir, "--quiet", "--warnings-as-errors=*", unit],
                         cwd=ROOT, capture_output=True, text=True)
    text = "".join(line + "\n" for line in (run.stdout + run.stderr).splitlines()
                   if line and not any(n in line for n in NOISE))
    return run.returncode == 0, text


def prune(cache):
    now = time.time()
    for entry in cache.iterdir():
        try:
            if now - entry.stat().st_mtime > MAX_AGE_S:
                entry.unlink()
        except OSError:
            pass


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir, units = sys.argv[1], sys.argv[2:]
    database = Path(build_dir) / "compile_commands.json"
    try:
        entries = {}
        for e in json.loads(database.read_text()):
            entries.setdefault(os.path.realpath(os.path.join(e["directory"], e["file"])), e)
    except (OSError, ValueError) as e:
        print(f"clang-tidy-cached: cannot read {database}: {e}", file=sys.stderr)
        return 2
    use_cache = os.environ.get("TICKGRAPH_TIDY_CACHE", "1") != "0"
    cache = cache_dir()
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True).stdout
    salt = version + (ROOT / ".clang-tidy").read_bytes()

    def check(unit):
        entry = entries.get(os.path.realpath(ROOT / unit))
        key = unit_key(entry, salt) if entry is not None and use_cache else None
        if key is not None and (cache / key).exists():
            os.utime(cache / key)
            return unit, True, "", True
        clean, text = tidy(build_dir, unit)
        if clean and key is not None:
            (cache / key).touch()
        return unit, clean, text, False

    failed, cached = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for unit, clean, text, hit in pool.map(check, units):
            cached += hit
            if text:
                sys.stderr.write(text)
            if not clean:
                failed.append(unit)
    prune(cache)
    print(f"clang-tidy: {len(units)} units, {cached} unchanged since found clean, "
          f"{len(units) - cached} checked, {len(failed)} with findings")
    for unit in failed:
        print(f"clang-tidy: findings in {unit}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
