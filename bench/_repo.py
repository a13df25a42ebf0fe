"""Where the repository is, and the project's packages made importable.

`python bench/run.py` puts `bench/` on `sys.path`, not the repository root, so
the harness adds the root once here; every bench module imports `ROOT` from
this module before it imports `storage`, `consumer` or `api`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIXTURES = ROOT / "tests" / "fixtures" / "binance"
EXCHANGE_INFO = FIXTURES / "exchangeInfo_2023-08-13.trimmed.json"
BOOK_TICKER = FIXTURES / "bookTicker_from_ticker_24hr_2023-03-10.json"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
