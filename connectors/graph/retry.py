"""Retry timing rules: Retry-After parsing and capped exponential backoff with full jitter."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 60.0

# Statuses where Graph answered "not now": 429 throttled, 503 unavailable, 504 gateway timeout.
RETRYABLE_STATUSES = frozenset({429, 503, 504})
# For non-idempotent methods (POST) a 504 means the gateway gave up waiting for a backend that
# may still have carried the request out (e.g. sent the mail), so only "refused" answers are retried.
RETRYABLE_STATUSES_NON_IDEMPOTENT = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def retry_after_seconds(headers: Mapping[str, str], *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait according to a Retry-After header, or None when absent/unparseable.

    Graph sends delta-seconds, sometimes fractional ("2.128"); RFC 9110 also allows an HTTP-date.
    """
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_http_date(value, now())
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def backoff_seconds(retry_number: int, jitter: Callable[[], float]) -> float:
    """Full-jitter backoff: uniform in [0, min(cap, base * 2**n)] for the n-th retry (0-based)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(retry_number, 32))
    return jitter() * ceiling


def _seconds_until_http_date(value: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Batch item headers are plain dicts with server-chosen casing; httpx.Headers is case-insensitive.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
