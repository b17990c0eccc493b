"""What scenarios share: simulators per tenant size, and memoised measurements of each party.

A measurement (graphsync's full sync, the fetch floor, dlt) is made at most once per tenant size and
reused by every scenario that compares against it. Scenarios that change the tenant mark its
simulator dirty; later read-only measurements then get a fresh simulator with the seeded data.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bench.measure import ChildRun, run_child
from bench.sim import SimProcess, child_env

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass(frozen=True)
class Size:
    users: int
    messages_per_mailbox: int

    @property
    def messages(self) -> int:
        return self.users * self.messages_per_mailbox

    @property
    def label(self) -> str:
        return f"{self.users}x{self.messages_per_mailbox:,}"


@dataclass(frozen=True)
class Profile:
    name: str
    large: Size  # the headline tenant
    small: Size  # the memory-scaling comparison point
    changed_fraction: float = 0.01
    # Peak RSS varies by ±10% from run to run on a shared machine; the memory comparison takes the
    # median of this many full syncs per size.
    memory_runs: int = 3


FULL = Profile("full", large=Size(50, 2000), small=Size(5, 2000))
QUICK = Profile("quick", large=Size(4, 250), small=Size(2, 250), memory_runs=2)  # 2: the repeats run too


@dataclass
class SyncRun:
    """One `graphsync sync` process, measured from outside."""

    run: ChildRun
    http_requests: int  # HTTP requests the simulator answered ($batch counts once)
    graph_calls: int  # Graph operations, each $batch item counted
    reported_seconds: float | None  # the sync's own timing: Graph calls and commits, without start-up and end
    items: int  # items received, from the sync's summary
    db: Path
    sim: SimProcess


@dataclass
class BaselineRun:
    run: ChildRun
    result: dict[str, Any]  # the JSON line the baseline printed
    http_requests: int


@dataclass
class Context:
    profile: Profile
    workdir: Path
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    _sims: dict[Size, SimProcess] = field(default_factory=dict)
    _dirty: set[int] = field(default_factory=set)
    _memo: dict[tuple[str, Size], Any] = field(default_factory=dict)
    _all_sims: list[SimProcess] = field(default_factory=list)

    # -- simulators ------------------------------------------------------------------------------
    def sim(self, size: Size) -> SimProcess:
        """A simulator whose tenant still holds exactly the seeded data."""
        current = self._sims.get(size)
        if current is None or id(current) in self._dirty:
            self.log(f"starting simulator {size.label}")
            current = SimProcess(size.users, size.messages_per_mailbox).start()
            self._sims[size] = current
            self._all_sims.append(current)
        return current

    def mark_dirty(self, sim: SimProcess) -> None:
        self._dirty.add(id(sim))

    def close(self) -> None:
        for sim in self._all_sims:
            sim.stop()

    def memo(self, key: str, size: Size, make: Callable[[], T]) -> T:
        if (key, size) not in self._memo:
            self._memo[(key, size)] = make()
        return self._memo[(key, size)]  # type: ignore[no-any-return]

    # -- measured parties ------------------------------------------------------------------------
    def full_sync(self, size: Size) -> SyncRun:
        def make() -> SyncRun:
            sim = self.sim(size)
            db = self.workdir / f"graphsync-{size.label}.duckdb"
            self.log(f"graphsync full sync {size.label}")
            return self.graphsync_sync(sim, db)

        return self.memo("graphsync_full", size, make)

    def full_syncs(self, size: Size, runs: int) -> list[SyncRun]:
        """`runs` full syncs of `size`, each into a fresh file: the memoised one, then repeats."""
        def make() -> list[SyncRun]:
            repeats = []
            for n in range(1, runs):
                db = self.workdir / f"graphsync-{size.label}-repeat{n}.duckdb"
                self.log(f"graphsync full sync {size.label}, repeat {n}")
                repeats.append(self.graphsync_sync(self.sim(size), db))
            return repeats

        return [self.full_sync(size), *self.memo("graphsync_full_repeats", size, make)]

    def graphsync_sync(self, sim: SimProcess, db: Path) -> SyncRun:
        env = child_env({**sim.env, "GRAPHSYNC_DB": str(db)})
        mark = sim.journal_mark()
        # The same collections the baselines fetch (users, folders, messages), nothing more.
        # Not --quiet: the summary (stdout) is what is parsed; progress goes to stderr.
        run = run_child([sys.executable, "-m", "pipelines.cli", "sync",
                         "--only", "users,mail_folders,messages"], env, REPO)
        http, calls = request_counts(sim, mark)
        seconds, items = parse_summary(run.stdout)
        return SyncRun(run, http, calls, seconds, items, db, sim)

    def floor(self, size: Size) -> BaselineRun:
        def make() -> BaselineRun:
            self.log(f"fetch floor {size.label}")
            return self._baseline(size, [sys.executable, "-m", "bench.floor"], {})

        return self.memo("floor", size, make)

    def dlt(self, size: Size) -> BaselineRun:
        def make() -> BaselineRun:
            self.log(f"dlt rest_api {size.label}")
            sim = self.sim(size)
            db = self.workdir / f"dlt-{size.label}.duckdb"
            # requests (under dlt) lets REQUESTS_CA_BUNDLE override any verify=, so trust goes there.
            extra = {"REQUESTS_CA_BUNDLE": sim.ca_path}
            return self._baseline(size, [sys.executable, "-m", "bench.dlt_baseline", "--db", str(db)], extra)

        return self.memo("dlt", size, make)

    def _baseline(self, size: Size, cmd: list[str], extra: dict[str, str]) -> BaselineRun:
        sim = self.sim(size)
        mark = sim.journal_mark()
        run = run_child(cmd, child_env({**sim.env, **extra}), REPO)
        http, _ = request_counts(sim, mark)
        return BaselineRun(run, orjson.loads(run.stdout.strip().splitlines()[-1]), http)


def request_counts(sim: SimProcess, mark: int) -> tuple[int, int]:
    """(HTTP requests, Graph operations) since `mark`, from the simulator's request journal.

    A `$batch` is one HTTP request carrying up to 20 operations; the journal records the envelope and
    each operation, so operations are every entry but the envelopes."""
    calls = sim.requests_since(mark)
    entries = sim.journal(mark)
    if len(entries) < calls:  # the journal keeps a bounded window; fall back to the sequence count
        return calls, calls
    outer = sum(1 for e in entries if not e["in_batch"])
    envelopes = sum(1 for e in entries if not e["in_batch"] and e["path"].rstrip("/").endswith("$batch"))
    return outer, len(entries) - envelopes


_SUMMARY = re.compile(r"sync finished in ([\d.]+) s")
_ROW = re.compile(r"^\s+(users|mail_folders|messages)\s+([\d,]+)\s", re.MULTILINE)


def parse_summary(stdout: str) -> tuple[float | None, int]:
    """The sync's own seconds and items received, from `graphsync sync`'s summary."""
    found = _SUMMARY.search(stdout)
    items = sum(int(m.group(2).replace(",", "")) for m in _ROW.finditer(stdout))
    return (float(found.group(1)) if found else None), items


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="graphsync-bench-")
