"""Human-readable summaries of a sync, shared by the CLI and the demo."""

from __future__ import annotations

import sys
from typing import TextIO

from pipelines.sync.tenant import SyncReport


def summary_rows(report: SyncReport) -> list[tuple[str, int, int, int, int]]:
    """(table, items received, upserted, tombstoned, pages) per table the sync touched."""
    by_table = report.writer.counts.by_table if report.writer else {}
    rows = []
    for name, stats in sorted(report.streams.items()):
        counts = by_table.get(name)
        rows.append((name, stats.items, counts.upserted if counts else 0, counts.tombstoned if counts else 0,
                     stats.pages))
    return rows


def print_summary(report: SyncReport, title: str = "sync finished") -> None:
    rows = summary_rows(report)
    items = sum(r[1] for r in rows)
    digits = 2 if report.seconds < 10 else 1  # an incremental run takes well under a second
    print(f"\n{title} in {report.seconds:.{digits}f} s: {len(report.mailboxes)} mailboxes, "
          f"{report.requests:,} requests, {report.seconds_throttled:.1f} s throttled, "
          f"{items / max(report.seconds, 1e-6):,.0f} items/s")
    print(f"  {'table':<14}{'received':>10}{'upserted':>10}{'tombstoned':>12}{'pages':>8}")
    for table, received, upserted, tombstoned, pages in rows:
        print(f"  {table:<14}{received:>10,}{upserted:>10,}{tombstoned:>12,}{pages:>8,}")
    if report.files is not None:
        files = report.files
        print(f"  attachment files: {files.written:,} written ({files.bytes / 1e6:,.1f} MB), "
              f"{files.too_large:,} over the size limit, {files.failed:,} not readable (tried again next run)")
    for label, error in report.failed.items():  # a mailbox id, "team <id>", "chat <id>" or a table
        print(f"  ! {label}: {error}")


class LiveProgress:
    """Progress of a running sync on stderr: on a terminal a block redrawn in place every half second,
    otherwise (a pipe, a log file) its headline as a plain line every 10 seconds."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.every_s = 0.5 if self.live else 10.0
        self._drawn = 0

    def __call__(self, lines: list[str]) -> None:
        if not self.live:
            print(f"  … {lines[0]}", file=self.stream, flush=True)
            return
        self._clear()
        self.stream.write("".join(f"{line}\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        """Take the block away, so the summary that follows stands alone."""
        if self.live:
            self._clear()
            self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the block's first line, erase to the end
            self._drawn = 0
