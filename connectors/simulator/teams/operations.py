"""Long-running Teams operations (teamsAsyncOperation): create team, archive, unarchive, create a
shared channel.

resources/teamsasyncoperation.md: the method answers 202 Accepted with a `Location` naming the
operation; the client polls it ("wait >30 seconds between checks"); "When the request completes
successfully, the status will be succeeded and the targetResourceLocation will point to the
created/modified resource". Statuses are notStarted, inProgress, succeeded, failed
(resources/teamsasyncoperationstatus.md). team-archive.md: "A team is archived once the async operation
completes successfully, which might occur subsequent to a response from this API."

So nothing happens at the 202: the change (`apply`) runs when the operation succeeds. An operation
moves one status per GET of it (notStarted, then inProgress, then succeeded), and succeeds by itself
`settle_s` seconds after it was accepted, polled or not, as a real one completes whether anyone
watches. Operations on one team complete in the order they were accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.simulator.http import ApiError, Request
from connectors.simulator.teams.model import iso_ms

STEPS = ("notStarted", "inProgress", "succeeded")
TERMINAL = {"succeeded", "failed"}
# resources/teamsasyncoperation.md: these teamsAsyncOperationType members are returned only with
# `Prefer: include-unknown-enum-members`; otherwise the evolvable enum answers unknownFutureValue.
EVOLVABLE_TYPES = {"teamifyGroup", "createChannel", "archiveChannel", "unarchiveChannel"}


@dataclass
class Operation:
    id: str
    operation_type: str  # createTeam, archiveTeam, unarchiveTeam, createChannel
    team_id: str
    target_id: str
    target_location: str
    apply: Callable[[], None]  # the change the operation makes, run when it succeeds
    accepted_at: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_action: datetime = field(default_factory=lambda: datetime.now(UTC))
    polls: int = 0
    status: str = "notStarted"
    error: dict | None = None


class Operations:
    """Every operation of the tenant's teams, by id."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._ops: dict[str, Operation] = {}
        self._settling = False

    def start(self, op: Operation) -> Operation:
        self._ops[op.id] = op
        return op

    def observe(self, team_id: str, op_id: str) -> Operation:
        """GET of an operation: it moves one step (or completes, once due) and is returned."""
        self.settle_due()
        op = self._ops.get(op_id)
        if op is None or op.team_id.lower() != team_id.lower():
            raise ApiError(404, "NotFound", f"Operation {op_id} not found for team {team_id}.")
        if op.status not in TERMINAL:
            op.polls += 1
            step = STEPS[min(op.polls - 1, len(STEPS) - 1)]
            if step == "succeeded":
                self._complete(op)
            elif step != op.status:
                op.status, op.last_action = step, datetime.now(UTC)
        return op

    def settle_due(self) -> None:
        """Complete every operation accepted at least `settle_s` seconds ago."""
        now = time.monotonic()
        for op in self.pending():
            if now - op.accepted_at >= self.settle_s:
                self._complete(op)

    def settle_all(self) -> int:
        """Complete every pending operation now (the control surface); how many there were."""
        pending = self.pending()
        for op in pending:
            self._complete(op)
        return len(pending)

    def pending(self, team_id: str | None = None) -> list[Operation]:
        return [op for op in self._ops.values() if op.status not in TERMINAL
                and (team_id is None or op.team_id == team_id)]

    def _complete(self, op: Operation) -> None:
        if op.status in TERMINAL or self._settling:
            return
        self._settling = True  # apply() reads Teams state, whose lookups settle operations again
        try:
            for earlier in self.pending(op.team_id):  # one team's operations run in order
                if earlier.accepted_at > op.accepted_at or earlier is op:
                    continue
                self._finish(earlier)
            self._finish(op)
        finally:
            self._settling = False

    @staticmethod
    def _finish(op: Operation) -> None:
        try:
            op.apply()
            op.status = "succeeded"
        except ApiError as exc:
            op.status, op.error = "failed", {"code": exc.code, "message": exc.message}
        op.last_action = datetime.now(UTC)

    def all(self) -> list[Operation]:
        return list(self._ops.values())


def render(op: Operation, req: Request | None = None) -> dict:
    """A teamsAsyncOperation (resources/teamsasyncoperation.md)."""
    wanted = req is not None and "include-unknown-enum-members" in req.headers.get("prefer", "").lower()
    kind = op.operation_type
    if kind in EVOLVABLE_TYPES and not wanted:
        kind = "unknownFutureValue"
    out = {
        "id": op.id, "operationType": kind, "createdDateTime": iso_ms(op.created), "status": op.status,
        "lastActionDateTime": iso_ms(op.last_action), "attemptsCount": 1, "targetResourceId": op.target_id,
        "targetResourceLocation": op.target_location, "error": op.error,
    }
    if req is not None:
        out = {"@odata.context": f"{req.base_url}/$metadata#teams('{op.team_id}')/operations/$entity", **out}
    return out
