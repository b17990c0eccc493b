"""Run one measured child process: wall time, peak RSS (its own, via wait4) and its output."""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class ChildFailed(RuntimeError):
    pass


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_child(cmd: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 1800.0) -> ChildRun:
    """Run `cmd` to completion. wait4 gives this child's own rusage, unlike RUSAGE_CHILDREN, whose
    ru_maxrss is the largest of every child waited for so far (the simulator's included)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        status, rusage = _wait(proc, timeout_s)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise ChildFailed(f"{' '.join(cmd[:4])}... exited {code}: {stderr.strip()[-2000:]}")
    # ru_maxrss is in kilobytes on Linux.
    return ChildRun(seconds=seconds, peak_rss_mb=rusage.ru_maxrss / 1024, stdout=stdout, stderr=stderr)


def _wait(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, resource.struct_rusage]:
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
            return status, rusage
        if time.monotonic() > deadline:
            proc.kill()
            raise ChildFailed(f"{proc.args!r} did not finish within {timeout_s:.0f} s")
        time.sleep(0.02)
