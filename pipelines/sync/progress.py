"""Live progress of a sync: what is done per table and how many mailboxes are left.

The sync counts (`page`, `mailbox_started`, `mailbox_done`); a reporter renders `lines()` every few
seconds: on a terminal as a block redrawn in place, elsewhere (a log file, Dagster's run log) as
plain lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from connectors.graph import ClientStats


@dataclass
class TableProgress:
    items: int = 0
    pages: int = 0


@dataclass
class Progress:
    mailboxes_total: int = 0
    mailboxes_done: int = 0
    mailboxes_running: int = 0
    tables: dict[str, TableProgress] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def items(self) -> int:
        return sum(t.items for t in self.tables.values())

    def page(self, table: str, items: int) -> None:
        counts = self.tables.setdefault(table, TableProgress())
        counts.pages += 1
        counts.items += items

    def lines(self, stats: ClientStats | None = None) -> list[str]:
        """A headline (mailboxes, ETA, rate, throttling), then one line per table."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        head = [f"{_clock(elapsed)} elapsed"]
        if self.mailboxes_total:
            head.append(f"mailboxes {self.mailboxes_done}/{self.mailboxes_total} ({self.mailboxes_running} now)")
            eta = self.eta(elapsed)
            if eta is not None:
                head.append(f"ETA {_clock(eta)}")
        head.append(f"{self.items:,} items, {self.items / elapsed:,.0f}/s")
        if stats is not None:
            head.append(f"{stats.requests:,} requests, {stats.retries:,} retries, "
                        f"{stats.seconds_throttled:.1f} s throttled")
        width = max((len(t) for t in self.tables), default=0)
        return [" · ".join(head)] + [f"  {name:<{width}}  {t.items:>10,} items  {t.items / elapsed:>8,.0f}/s"
                                     for name, t in sorted(self.tables.items())]

    def eta(self, elapsed: float) -> float | None:
        """Seconds left, from the mailboxes done so far (None until one is done: nothing to go by)."""
        if not self.mailboxes_done or self.mailboxes_done >= self.mailboxes_total:
            return None
        return elapsed / self.mailboxes_done * (self.mailboxes_total - self.mailboxes_done)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
