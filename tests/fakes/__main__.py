"""``python -m tests.fakes``: the same command line as ``python -m tests.fake_exchange``."""

from tests.fakes.cli import main

raise SystemExit(main())
