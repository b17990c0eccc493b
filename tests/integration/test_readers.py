"""Readers get in during a long sync, within the bound warehouse/locking.py states (issue 13)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pipelines.sync.writer import BatchWriter
from tests.conftest import start_simulator
from tests.integration.helpers import GRAPHSYNC
from tests.integration.test_cli import _env
from warehouse import Warehouse

# A waiting reader is let in after the sync's next commit (at most BatchWriter.hold_seconds anyway):
# a commit takes up to a few seconds on a loaded 2-core machine.
BOUND_S = BatchWriter.hold_seconds


def test_a_reader_gets_in_within_the_bound_during_a_full_sync_of_100k_messages(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", scale="large")  # 50 mailboxes x 2,000 = 100,000 messages
    try:
        db = tmp_path / "wh.duckdb"
        env = _env(sim, db)
        sync = subprocess.Popen(GRAPHSYNC + ["sync", "--only", "users,mail_folders,messages", "--quiet"], env=env,
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waits: list[float] = []
        seen: list[int] = []
        while not db.exists() and sync.poll() is None:
            time.sleep(0.1)
        reader = Warehouse(db, lock_timeout_s=120)
        while sync.poll() is None:
            started = time.monotonic()
            try:
                (count,) = reader.query_rows("SELECT count(*) FROM messages")[0]
            except Exception as exc:  # the table may not exist in the very first instant
                if "messages" not in str(exc):
                    raise
                time.sleep(0.5)
                continue
            waits.append(time.monotonic() - started)
            seen.append(count)
            time.sleep(0.5)
        out, err = sync.communicate(timeout=600)
        assert sync.returncode == 0, err
        assert seen[-1] if seen else False, "the reader saw messages arrive"
        assert len(waits) >= 5, f"the sync was too short to measure ({len(waits)} reads)"
        assert max(waits) <= BOUND_S, f"a reader waited {max(waits):.1f} s (bound {BOUND_S:.0f} s): {waits}"
        (total,) = reader.query_rows("SELECT count(*) FROM messages WHERE _deleted_at IS NULL")[0]
        assert total == 100_000
        print(f"\n{len(waits)} reads during the sync: longest wait {max(waits):.2f} s, "
              f"median {sorted(waits)[len(waits) // 2]:.2f} s")
    finally:
        sim.stop()


