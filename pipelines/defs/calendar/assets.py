"""Calendar: each mailbox's events through calendarView delta (occurrences of series expanded)."""

from pipelines.defs.mailbox_assets import per_mailbox_asset, unique_keys_check

events = per_mailbox_asset(
    "events", "calendar",
    "Events of each mailbox's default calendar within a year either side of the first sync (Graph v1.0 offers "
    "delta only for a calendar view); occurrences of recurring events are rows of their own.",
)
events_have_unique_keys = unique_keys_check("events")
