"""The scale-out test reuses the end-to-end harness (tests/e2e/server_harness.py, feeds.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
