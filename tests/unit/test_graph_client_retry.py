from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from connectors.graph.retry import backoff_seconds, retry_after_seconds

NOW = datetime(2025, 1, 14, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10", 10.0), ("2.128", 2.128), (" 0 ", 0.0), ("-3", 0.0), ("soon", None), ("nan", None), ("inf", None)],
)
def test_retry_after_seconds_forms(value, expected):
    assert retry_after_seconds({"Retry-After": value}, now=lambda: NOW) == expected


def test_retry_after_http_date_is_relative_to_now():
    when = datetime(2025, 1, 14, 12, 0, 30, tzinfo=UTC)
    header = {"retry-after": format_datetime(when, usegmt=True)}
    assert retry_after_seconds(header, now=lambda: NOW) == pytest.approx(30.0)


def test_retry_after_in_the_past_means_now_and_absent_means_none():
    past = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds({"Retry-After": past}, now=lambda: NOW) == 0.0
    assert retry_after_seconds({}, now=lambda: NOW) is None


def test_backoff_is_full_jitter_under_a_capped_ceiling():
    assert [backoff_seconds(n, lambda: 1.0) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_seconds(3, lambda: 0.0) == 0.0
    assert backoff_seconds(10_000, lambda: 0.5) == 30.0
