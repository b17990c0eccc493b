"""The sync plan: ordering, selections, and the README's table list kept equal to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.sync.docs import permissions_markdown, tables_markdown
from pipelines.sync.plan import Kind, Parent, Plan, StreamSpec
from pipelines.sync.streams import PLAN
from pipelines.sync.tenant import ALL_TABLES


def test_parents_come_first_and_every_table_is_a_cli_table() -> None:
    names = list(PLAN.streams)
    for spec in PLAN.streams.values():
        if spec.parent:
            assert names.index(spec.parent.stream) < names.index(spec.name)
    assert PLAN.tables == ALL_TABLES


def test_a_selection_brings_the_ancestors_that_find_its_scopes() -> None:
    assert PLAN.selection(["messages"]) == ["mail_folders", "messages"]  # users: from the warehouse
    assert PLAN.selection(["drive_items"]) == ["drives", "drive_items"]
    assert PLAN.selection(["channel_messages"]) == ["channels", "channel_messages"]
    assert PLAN.selection(["users", "chat_messages"]) == ["users", "chats", "chat_messages"]


def test_bad_plans_are_refused() -> None:
    orphan = StreamSpec("messages", "messages", Kind.DELTA, "/x", parent=Parent("nowhere", (("user_id", "id"),)))
    with pytest.raises(ValueError, match="not declared"):
        Plan([orphan])
    unscoped = StreamSpec("messages", "messages", Kind.DELTA, "/x")
    with pytest.raises(ValueError, match="no scope"):
        Plan([unscoped])


def test_the_readme_lists_the_plan() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("<!-- plan:tables", 1)[1].split("-->", 1)[1].split("<!-- /plan:tables -->", 1)[0]
    assert block.strip() == tables_markdown()


def test_the_readme_lists_the_permissions_of_the_plan() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("<!-- plan:permissions", 1)[1].split("-->", 1)[1].split("<!-- /plan:permissions -->", 1)[0]
    assert "\n".join(line.strip() for line in block.strip().splitlines()) == permissions_markdown()
