"""The snapshot store's errors: one closed tree, foreign exceptions translated here.

StoreError
├── CorruptSnapshotError     a file that does not decode as a snapshot
├── SnapshotVanishedError    a file that was indexed but is gone (retention)
├── StoreReadError           the directory or a file cannot be read (OSError)
├── StoreWriteError          a snapshot could not be written (OSError)
└── StoreLockedError         another consumer holds the single-writer lock
"""

from __future__ import annotations

__all__ = [
    "CorruptSnapshotError",
    "SnapshotVanishedError",
    "StoreError",
    "StoreLockedError",
    "StoreReadError",
    "StoreWriteError",
]


class StoreError(Exception):
    """Base of every error the store raises."""


class CorruptSnapshotError(StoreError):
    """A snapshot file exists but is not a valid snapshot."""


class SnapshotVanishedError(StoreError):
    """A snapshot file was in the index but is gone (deleted by retention)."""


class StoreReadError(StoreError):
    """The data directory or a file in it cannot be read."""


class StoreWriteError(StoreError):
    """A snapshot could not be written; nothing partial is left visible."""


class StoreLockedError(StoreError):
    """Another quote consumer is writing to this data directory."""
