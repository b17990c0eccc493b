"""Throttling and injected faults, both deterministic.

Throttling follows Outlook's documented limits per app and mailbox (throttling-limits.md): at most 4
concurrent requests and a request budget per window (10,000 per 10 minutes by default). Fault rules
inject 429/503/504 responses or dropped connections on chosen requests: "the 3rd delta call",
"every 5th request to this mailbox", or a seeded probability, so a test can say exactly what happens.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from connectors.simulator.http import ApiError

DROP = 0  # a rule status meaning "close the connection without a complete response"


@dataclass
class FaultRule:
    status: int  # 429, 503, 504 or DROP
    path: str = ""  # regex searched in the request path
    method: str | None = None
    mailbox: str | None = None  # user id or UPN the request addresses
    after: int = 0  # let this many matching requests through first
    every: int = 1  # then fault every Nth matching request
    times: int | None = None  # stop after this many faults (None: no limit)
    probability: float = 1.0  # drawn from a generator seeded by the simulator seed
    retry_after: float | None = 1.0  # seconds; fractional values are sent as such
    # DROP only: the request takes effect first and only its answer is lost (in a $batch, the item is
    # applied and the whole batch's answer lost). Without it a dropped request never reaches Graph.
    applied: bool = False
    matched: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("matched", "fired")}
        return cls(**allowed)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ThrottlePolicy:
    mailbox_concurrency: int = 4
    mailbox_budget: int = 10_000
    budget_window_s: float = 600.0
    latency_s: float = 0.0  # added to every Graph request, so concurrency limits are observable


@dataclass
class FaultInjector:
    seed: int
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    rules: list[FaultRule] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # mailbox -> (window start, count)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set_rules(self, rules: list[FaultRule]) -> None:
        self.rules = rules
        self._rng = random.Random(self.seed)

    def injected(self, method: str, path: str, mailbox: str | None) -> FaultRule | None:
        """The rule that fires for this request, if any (counters advance either way)."""
        for rule in self.rules:
            if rule.method and rule.method.upper() != method:
                continue
            if rule.path and not re.search(rule.path, path, re.IGNORECASE):
                continue
            if rule.mailbox and rule.mailbox != mailbox:
                continue
            rule.matched += 1
            if rule.matched <= rule.after or (rule.matched - rule.after - 1) % max(rule.every, 1):
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None

    def charge_budget(self, mailbox: str) -> None:
        """Count a request against the mailbox's window; 429 once the budget is spent.

        A window starts at the mailbox's first request after the previous window ended, so a test
        never straddles an arbitrary clock boundary."""
        now = time.monotonic()
        started, count = self._windows.get(mailbox, (now, 0))
        if now - started >= self.policy.budget_window_s:
            started, count = now, 0
        if count >= self.policy.mailbox_budget:
            wait = started + self.policy.budget_window_s - now
            raise throttled(max(wait, 0.1), "Application is over its MailboxRequestBudget limit.")
        self._windows[mailbox] = (started, count + 1)

    def enter(self, mailbox: str) -> None:
        if self.in_flight.get(mailbox, 0) >= self.policy.mailbox_concurrency:
            raise throttled(1.0, "Application is over its MailboxConcurrency limit.")
        self.in_flight[mailbox] = self.in_flight.get(mailbox, 0) + 1

    def leave(self, mailbox: str) -> None:
        self.in_flight[mailbox] -= 1


def throttled(retry_after: float | None, message: str = "Please retry again later.") -> ApiError:
    headers = {} if retry_after is None else {"retry-after": _seconds(retry_after)}
    return ApiError(429, "TooManyRequests", message, headers=headers, inner_code="429")


def unavailable(status: int, retry_after: float | None) -> ApiError:
    headers = {} if retry_after is None else {"retry-after": _seconds(retry_after)}
    if status == 504:
        return ApiError(504, "UnknownError", "The gateway did not receive a timely response.", headers)
    return ApiError(503, "serviceNotAvailable", "The service is temporarily unavailable.", headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"
