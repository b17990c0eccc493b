"""Every error a user can cause or a machine can give is one line naming its cause (issue 13)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest

from connectors.simulator.server import Simulator
from pipelines.cli import one_line
from tests.integration.helpers import GRAPHSYNC
from tests.integration.test_cli import _assert_one_line_error, _env, _run


def test_a_ca_bundle_that_is_not_pem_is_one_line(sim: Simulator, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_bytes(b"\x30\x82\x03\x00 DER, not PEM")
    run = _run(["sync", "--only", "users"], _env(sim, tmp_path / "wh.duckdb", GRAPH_CA_BUNDLE=str(bundle)), tmp_path)
    _assert_one_line_error(run, "GRAPH_CA_BUNDLE", "not a PEM file")


def test_a_warehouse_in_a_folder_it_cannot_create_is_one_line(sim: Simulator, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the warehouse's folder should be")
    run = _run(["sync", "--only", "users"], _env(sim, blocker / "wh.duckdb"), tmp_path)
    _assert_one_line_error(run, "not-a-folder")


@pytest.mark.parametrize("content", ["GRAPH_TENANT_ID=x\n".encode("utf-16"), b"\x00\xff\xfe binary\x81\n"],
                         ids=["utf-16", "binary"])
def test_a_dotenv_that_is_not_text_is_one_line(sim: Simulator, tmp_path: Path, content: bytes) -> None:
    (tmp_path / ".env").write_bytes(content)
    run = _run(["sync", "--only", "users"], _env(sim, tmp_path / "wh.duckdb"), tmp_path)
    _assert_one_line_error(run, ".env", "UTF-8")


@pytest.mark.parametrize("args", [["simulator", "serve", "--port", "70000"], ["sync", "--page-size", "0"],
                                  ["sync", "--lock-timeout", "nan"], ["sync", "--only", "no_such_table"]])
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    run = subprocess.run(GRAPHSYNC + args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    _assert_one_line_error(run, args[-2].lstrip("-") if args[-2].startswith("--") else "")


def test_a_closed_stdout_after_a_successful_command_exits_0_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen(GRAPHSYNC + ["writeback", "ops"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # read a line, then go away like `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0 and "Traceback" not in err, err


def test_a_full_disk_is_named_even_when_the_rollback_after_it_fails() -> None:
    try:
        try:
            raise duckdb.IOException("Could not write file \"wh.duckdb.wal\": No space left on device")
        except duckdb.IOException:
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback")  # noqa: B904
    except duckdb.Error as exc:
        assert "No space left on device" in one_line(exc)
    try:
        try:
            raise OSError(28, "No space left on device", "/data/wh.duckdb")
        except OSError as disk:
            raise RuntimeError("cannot rollback - no transaction is active") from disk
    except RuntimeError as exc:
        assert one_line(exc) == "No space left on device: /data/wh.duckdb (the disk is full)"


def _small_mount(path: Path, *options: str) -> bool:
    """A tmpfs of our own (a full or read-only disk for real); False where mounting is not allowed."""
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize(("options", "needle"), [(("size=600k",), "No space left on device"),
                                                 (("ro", "size=1m"), "Read-only file system")],
                         ids=["full disk", "read-only file system"])
def test_a_real_full_or_read_only_disk_is_one_line(sim: Simulator, tmp_path: Path, options: tuple[str, ...],
                                                    needle: str) -> None:
    disk = tmp_path / "disk"
    if not _small_mount(disk, *options):
        pytest.skip("mounting a tmpfs needs root (CI and this machine have it); the chain is tested above")
    try:
        run = _run(["sync", "--quiet"], _env(sim, disk / "wh.duckdb"), tmp_path)
        _assert_one_line_error(run, needle)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
