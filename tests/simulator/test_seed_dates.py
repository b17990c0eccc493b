"""Seeded dates are relative to the tenant's "now" (content.seed_epoch): by default the current time,
so windows such as "the last 30 days" find data; pinned by TenantConfig.now or $GRAPHSYNC_SIM_NOW, so
the same now always seeds the same tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.simulator import content
from connectors.simulator.server import Simulator
from connectors.simulator.tenant import TenantConfig

NOW = datetime(2026, 12, 2, 14, 37, 12, tzinfo=UTC)


def _tenant(now: datetime | None = None) -> Simulator:
    """A tiny tenant, not served: control calls run in this thread."""
    return Simulator(TenantConfig(scale=content.SCALES["tiny"], now=now))


def _seeded_dates(sim: Simulator) -> dict[str, list[str]]:
    """The dates of a user's seeded mail, events and files, of the users, and of the Teams posts."""
    user = sim.control("user_ids")[0]
    mail = [m["receivedDateTime"] for m in sim.control("mailbox_state", user=user)["messages"].values()]
    events = [e["start"]["dateTime"] for e in sim.control("calendar_state", user=user).values()]
    files = [f["lastModifiedDateTime"] for f in sim.control("drive_state", user=user)["items"].values()
             if "file" in f]
    users = [u["createdDateTime"] for u in sim.control("users_state").values()]
    posts = [p["createdDateTime"] for team in sim.control("teams_state").values()
             for channel in team["channels"].values() for p in channel["messages"].values()]
    chats = [m["createdDateTime"] for c in sim.control("chats_state", user=user).values()
             for m in c["messages"].values()]
    return {"mail": mail, "events": events, "files": files, "users": users, "posts": posts, "chats": chats}


def test_seed_epoch_is_now_floored_to_the_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    assert content.seed_epoch(NOW) == datetime(2026, 12, 2, 14, tzinfo=UTC)
    assert content.seed_epoch(NOW.replace(tzinfo=None)) == datetime(2026, 12, 2, 14, tzinfo=UTC), "naive is UTC"
    monkeypatch.setenv(content.NOW_ENV, "2025-06-30T23:59:59Z")
    assert content.seed_epoch() == datetime(2025, 6, 30, 23, tzinfo=UTC)
    assert content.seed_epoch(NOW).year == 2026, "an explicit now wins over the environment"
    monkeypatch.delenv(content.NOW_ENV)
    real = datetime.now(UTC)
    assert timedelta(0) <= real - content.seed_epoch() < timedelta(hours=1, seconds=5)


def test_seeded_data_lies_around_the_tenant_now() -> None:
    sim = _tenant(NOW)
    epoch = sim.tenant.epoch
    assert epoch == datetime(2026, 12, 2, 14, tzinfo=UTC) and sim.control("info")["epoch"] == "2026-12-02T14:00:00Z"
    dates = _seeded_dates(sim)
    stamp = content.iso(epoch)
    month_ago = content.iso(epoch - timedelta(days=30))
    assert max(dates["mail"]) <= stamp and max(dates["mail"]) >= content.iso(epoch - timedelta(days=1)), \
        "the newest seeded mail is from the last day"
    assert max(dates["files"]) <= content.iso(epoch + timedelta(days=30)) and min(dates["files"]) < stamp
    assert all(d <= stamp for d in dates["users"] + dates["posts"] + dates["chats"])
    assert any(d >= month_ago for d in dates["posts"]) and any(d >= month_ago for d in dates["chats"])
    assert min(dates["events"]) < stamp[:-1] < max(dates["events"]), "calendars span the epoch"


def test_the_same_now_seeds_the_same_tenant_and_another_now_shifts_it() -> None:
    first, again = _seeded_dates(_tenant(NOW)), _seeded_dates(_tenant(NOW + timedelta(minutes=20)))
    assert first == again, "deterministic for a fixed now (to the hour)"
    later = _seeded_dates(_tenant(NOW + timedelta(days=31)))
    shift = timedelta(days=31)
    for kind in ("mail", "users", "posts"):
        moved = sorted(datetime.fromisoformat(d.replace("Z", "+00:00")) for d in later[kind])
        base = sorted(datetime.fromisoformat(d.replace("Z", "+00:00")) for d in first[kind])
        assert [b - a for a, b in zip(base, moved, strict=True)] == [shift] * len(base), kind


def test_default_now_is_the_current_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(content.NOW_ENV, raising=False)
    sim = _tenant()
    newest = max(_seeded_dates(sim)["mail"])
    assert newest >= content.iso(datetime.now(UTC) - timedelta(days=1)), "'the last day' finds seeded mail today"
