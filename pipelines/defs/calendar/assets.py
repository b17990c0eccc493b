"""Calendar: each mailbox's events through calendarView delta (occurrences of series expanded)."""

from pipelines.defs.families import FAMILIES, UNIQUE_KEY_CHECKS

events = FAMILIES[("calendar", True)]
events_have_unique_keys = UNIQUE_KEY_CHECKS["events"]
