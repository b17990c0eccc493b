"""The live progress display: what it says and how it draws."""

from __future__ import annotations

import io

from connectors.graph import ClientStats
from pipelines.reporting import LiveProgress
from pipelines.sync.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_names_each_table_its_rate_the_eta_and_throttled_time() -> None:
    progress = Progress(mailboxes_total=4)
    progress.started -= 10.0  # ten seconds in
    progress.page("messages", 900)
    progress.page("messages", 100)
    progress.page("mail_folders", 20)
    progress.mailboxes_done = 1
    head, *tables = progress.lines(ClientStats(requests=50, retries=3, seconds_throttled=2.5))
    assert "mailboxes 1/4" in head and "ETA 0:30" in head and "1,020 items" in head
    assert "3 retries, 2.5 s throttled" in head
    assert [t.split()[0] for t in tables] == ["mail_folders", "messages"] and "1,000 items" in tables[1]
    assert "ETA" not in Progress(mailboxes_total=4).lines()[0], "no ETA before a mailbox is done"


def test_on_a_terminal_the_block_is_redrawn_in_place_and_elsewhere_lines_are_plain() -> None:
    terminal = _Terminal()
    live = LiveProgress(terminal)
    assert live.live and live.every_s < 1
    live(["head 1", "  messages 1"])
    live(["head 2", "  messages 2"])
    live.close()
    out = terminal.getvalue()
    assert out.count("\x1b[2F\x1b[J") == 2, "each redraw, and the close, erase the two lines drawn before"
    piped = io.StringIO()
    plain = LiveProgress(piped)
    plain(["head 1", "  messages 1"])
    assert piped.getvalue() == "  … head 1\n" and not plain.live
