"""The history index: per venue, what the snapshot files say, in ~1-10 % of their bytes.

Historical conversions and rate series would otherwise read one ~65 KB file
per point. The files stay the source of truth; the index is derived from them
(`python run.py reindex` rebuilds it) and never answers for a time it does not
hold, so a caller falls back to the files for anything not indexed yet.

On disk, `DATA_DIR/.history/<venue>/`:

    <first fetch time>.hxs   sealed segments of ~120 snapshots (an hour at 30 s),
                             written once, atomically: per (symbol, base, quote),
                             the bid/ask/size strings of every snapshot in it,
                             deflated column by column; each part checksummed
    tail-<random>.hxt        the open tail: one checked frame (length + crc32)
                             appended per snapshot, a full one, then only the
                             rows that changed; sealed into a segment when full
    .tmp-*                   a write in progress, or a crash's leftover

Formats: `_segment.py` and `_tail.py`. Rules:

- Exact: each value is the file's own decimal string; `Decimal(s)` is the
  value `storage.codec.decode` builds (same digits, exponent and `str`).
- Never disagrees with the files: a time is indexed only from a file `decode`
  accepts, and carries that file's stamp (size, mtime_ns). The caller uses
  the index for a time only while its file is listed and not known corrupt
  (`HistoryReader` docstring); the repair at consumer start drops every time
  whose file is gone or changed and indexes every file the index lacks.
- Crash-safe: segments are replaced atomically; a torn tail frame fails its
  checks, is ignored by readers and cut by the repair (the snapshot is then
  re-indexed from its file). Index failures never cost a snapshot file: the
  writer logs them once and the API reads the files.
- Retention removes index data with the files (`SnapshotWriter.delete_older_than`).
"""

from storage.history._files import HISTORY_DIR, index_dir
from storage.history.reader import HistoryReader
from storage.history.repair import Repair, rebuild, repair
from storage.history.writer import SEAL_COUNT, HistoryWriter

__all__ = [
    "HISTORY_DIR",
    "SEAL_COUNT",
    "HistoryReader",
    "HistoryWriter",
    "Repair",
    "index_dir",
    "rebuild",
    "repair",
]
