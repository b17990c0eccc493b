"""The coverage of the seed catalogue's GETs: complete, naming only tables of the plan, and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.sync.coverage import COVERAGE, Covered, NotSynced, coverage_markdown, planned, planned_table
from pipelines.sync.streams import PLAN

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seeds" / "tooljet-microsoft-graph-plugin.md"


@pytest.mark.skipif(not SEED.exists(), reason="the seed catalogue (../shared) is not beside this checkout")
def test_every_get_of_the_seed_is_synced_or_explained_and_nothing_else() -> None:
    rows = re.findall(r"^\|\s*GET\s*\|\s*`([^`]+)`", SEED.read_text(), re.M)
    gets = [f"GET {path}" for path in rows]
    assert sorted(set(gets) - set(COVERAGE)) == [], "GETs of the seed neither synced nor explained"
    assert sorted(set(COVERAGE) - set(gets)) == [], "coverage entries that are not GETs of the seed"
    assert gets == list(COVERAGE) and len(gets) == 57


def test_every_covered_get_names_a_table_of_the_plan() -> None:
    for get, entry in COVERAGE.items():
        assert isinstance(entry, Covered | NotSynced), get
        if isinstance(entry, Covered):
            assert entry.table in PLAN.tables, f"{get}: {entry.table} is not a table of the plan"
        else:
            assert entry.reason, f"{get}: say why it is not synced"


def test_a_planned_table_the_plan_now_declares_is_flipped_to_covered() -> None:
    for get, entry in COVERAGE.items():
        table = planned_table(entry)
        assert table not in PLAN.tables, f"{get}: {table} is synced now; make it Covered({table!r}, ...)"
    assert planned_table(planned("room_lists", "beta only")) == "room_lists"


def test_the_readme_shows_the_coverage() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- plan:coverage", 1)[1].split("-->", 1)[1].split("<!-- /plan:coverage -->", 1)[0]
    assert block.strip() == coverage_markdown()
