"""Microsoft Teams: teams and their groups, channels, channel messages (lists, replies, delta),
chats, chat messages, getAllMessages and conversation members.

- `model`: Graph's shapes for every Teams object; `state`: the state and every write to it;
  `seed`: the seeded tenant; `query`: paging and $filter dialects;
- `teams_routes`, `channels`, `chats`: the Graph routes; `control`: the control operations.

All Teams state hangs off one `TeamsState`, built the first time any Teams route or control
operation touches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.simulator.http import Router
from connectors.simulator.teams.channels import ChannelRoutes
from connectors.simulator.teams.chats import ChatRoutes
from connectors.simulator.teams.control import TeamsControl
from connectors.simulator.teams.seed import build_state
from connectors.simulator.teams.state import TeamsState
from connectors.simulator.teams.teams_routes import TeamRoutes
from connectors.simulator.tenant import Tenant


class TeamsArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self._state: TeamsState | None = None
        self._routes = (TeamRoutes(self), ChannelRoutes(self), ChatRoutes(self))
        self._control = TeamsControl(self)

    @property
    def state(self) -> TeamsState:
        if self._state is None:
            self._state = build_state(self.tenant)
        return self._state

    def register(self, r: Router) -> None:
        for routes in self._routes:
            routes.register(r)

    def control_ops(self) -> dict[str, Callable[..., Any]]:
        return self._control.ops()


__all__ = ["TeamsArea"]
