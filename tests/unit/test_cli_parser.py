"""The command line's argument parsing (no I/O)."""

from __future__ import annotations

import pytest

from connectors.simulator import content
from pipelines.cli import build_parser


def test_serve_scales_are_the_simulators() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["simulator"]  # type: ignore[union-attr]
    choices = serve._subparsers._group_actions[0].choices["serve"]._option_string_actions["--scale"].choices
    assert sorted(choices) == sorted(content.SCALES)


def test_only_rejects_unknown_tables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sync", "--only", "users,nonsense"])
    assert "unknown table 'nonsense'" in capsys.readouterr().err


def test_sync_defaults() -> None:
    args = build_parser().parse_args(["sync", "--only", "users", "--user", "a@b.c", "--user", "x"])
    assert args.only == ("users",) and args.user == ["a@b.c", "x"] and not args.full


def test_writeback_ops_prints_the_whole_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main
    from pipelines.writeback.catalogue import OPS

    assert main(["writeback", "ops"]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == [op.name for op in OPS]
    assert any("DELETE /teams/{team-id} | DELETE /groups/{team-id}" in line for line in lines)
