"""The analytics views: ready-made SQL over the synced tables, kept in the warehouse file itself.

They live in the file (not in a Python API) so that anyone who opens the warehouse, with the
`duckdb` CLI, a notebook or `graphsync sql`, finds them. They are (re)created whenever a writer
ensures the schema (warehouse.schema), as ``CREATE OR REPLACE VIEW``, so a newer graphsync's
definitions replace older ones on its first write; readers of a file no writer of this version has
touched yet get them as session-local TEMP views instead (:func:`create_temp_views`).

Rules every view keeps (the README's "Analytics" section says the same to users):

- Tombstoned rows (``_deleted_at IS NOT NULL``) are left out, and so are drafts.
- Every time is UTC: instants are TIMESTAMPTZ in the tables and are turned into UTC wall-clock time
  with ``timezone('UTC', ...)`` before any day, week or hour is taken, so the answer does not depend
  on the session's TimeZone setting. Time columns of the views are UTC ``TIMESTAMP``s named
  ``..._utc``; ``day`` is a UTC date and ``week`` the Monday (UTC) its week starts on.
- Working hours are Monday to Friday, 08:00 to 18:00 UTC (WORK_START_HOUR, WORK_END_HOUR).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

WORK_START_HOUR = 8
WORK_END_HOUR = 18
WORK_HOURS_PER_WEEK = 5 * (WORK_END_HOUR - WORK_START_HOUR)
STALE_AFTER_DAYS = 90
# A drive path deeper than this is taken to be a loop (a damaged parent chain), not followed further.
MAX_FOLDER_DEPTH = 64


@dataclass(frozen=True)
class View:
    name: str
    description: str  # one line; also the chart's caption in `graphsync report`
    sql: str  # the SELECT the view is


def _live(alias: str) -> str:
    return f"{alias}._deleted_at IS NULL"


def _utc(column: str) -> str:
    """UTC wall-clock time of an instant (TIMESTAMPTZ), whatever the session's time zone."""
    return f"timezone('UTC', {column})"


# The owner's address of each live mailbox, lower-cased: it tells sent mail from received mail.
_MAILBOXES = """mailboxes AS (
    SELECT id AS user_id, lower(coalesce(mail, user_principal_name)) AS mailbox FROM users WHERE _deleted_at IS NULL)"""

# Live, sent (not draft) messages with their mailbox and the time they were sent (received, when Graph
# gives no sent time); one message key across mailboxes: its internet message id.
_MAIL = f"""{_MAILBOXES},
mail AS (
    SELECT m.user_id, b.mailbox, m.id, m.subject, m.conversation_id,
           coalesce(m.internet_message_id, m.user_id || '/' || m.id) AS message_key,
           lower(m.from_address) AS sender, m.from_name,
           {_utc('m.received_date_time')} AS received_utc,
           {_utc('coalesce(m.sent_date_time, m.received_date_time)')} AS sent_utc,
           lower(m.from_address) IS NOT DISTINCT FROM b.mailbox AS is_sent,
           m.to_recipients, m.cc_recipients, m.bcc_recipients
    FROM messages m LEFT JOIN mailboxes b ON b.user_id = m.user_id
    WHERE {_live('m')} AND NOT coalesce(m.is_draft, false))"""

MAIL_VOLUME_DAILY = f"""WITH {_MAIL}
SELECT user_id, mailbox, CAST(received_utc AS DATE) AS day, count(*) AS messages,
       count(*) FILTER (WHERE is_sent) AS sent, count(*) FILTER (WHERE NOT is_sent) AS received
FROM mail WHERE received_utc IS NOT NULL
GROUP BY user_id, mailbox, CAST(received_utc AS DATE)"""

MAIL_TOP_SENDERS = f"""WITH {_MAIL}
SELECT sender AS sender_address, max(from_name) AS sender_name, count(DISTINCT message_key) AS messages,
       count(DISTINCT user_id) AS mailboxes
FROM mail WHERE sender IS NOT NULL
GROUP BY sender"""

MAIL_TOP_RECIPIENTS = f"""WITH {_MAIL},
recipients AS (
    SELECT message_key, 'to' AS field, unnest(json_extract(to_recipients, '$[*]')) AS recipient FROM mail
    UNION ALL SELECT message_key, 'cc', unnest(json_extract(cc_recipients, '$[*]')) FROM mail
    UNION ALL SELECT message_key, 'bcc', unnest(json_extract(bcc_recipients, '$[*]')) FROM mail),
addressed AS (
    SELECT message_key, field, lower(json_extract_string(recipient, '$.emailAddress.address')) AS address,
           json_extract_string(recipient, '$.emailAddress.name') AS name
    FROM recipients)
SELECT address AS recipient_address, max(name) AS recipient_name, count(DISTINCT message_key) AS messages,
       count(DISTINCT message_key) FILTER (WHERE field = 'to') AS as_to,
       count(DISTINCT message_key) FILTER (WHERE field = 'cc') AS as_cc,
       count(DISTINCT message_key) FILTER (WHERE field = 'bcc') AS as_bcc
FROM addressed WHERE address IS NOT NULL AND address <> ''
GROUP BY address"""

MAIL_AFTER_HOURS = f"""WITH {_MAIL}
SELECT user_id, mailbox, id AS message_id, CASE WHEN is_sent THEN 'sent' ELSE 'received' END AS direction,
       sender AS sender_address, subject, sent_utc,
       CASE WHEN isodow(sent_utc) >= 6 THEN 'weekend'
            WHEN hour(sent_utc) < {WORK_START_HOUR} THEN 'before {WORK_START_HOUR:02d}:00'
            ELSE 'after {WORK_END_HOUR:02d}:00' END AS reason
FROM mail
WHERE isodow(sent_utc) >= 6 OR hour(sent_utc) < {WORK_START_HOUR} OR hour(sent_utc) >= {WORK_END_HOUR}"""

# Per mailbox and conversation: the first message, and the first later one from someone else.
MAIL_REPLY_LATENCY = f"""WITH {_MAIL},
threaded AS (SELECT * FROM mail WHERE conversation_id IS NOT NULL AND sent_utc IS NOT NULL),
originals AS (
    SELECT * FROM threaded
    QUALIFY row_number() OVER (PARTITION BY user_id, conversation_id ORDER BY sent_utc, id) = 1),
replies AS (
    SELECT o.user_id, o.conversation_id, t.id, t.sender, t.sent_utc
    FROM originals o JOIN threaded t ON t.user_id = o.user_id AND t.conversation_id = o.conversation_id
         AND t.sent_utc > o.sent_utc AND t.sender IS DISTINCT FROM o.sender
    QUALIFY row_number() OVER (PARTITION BY o.user_id, o.conversation_id ORDER BY t.sent_utc, t.id) = 1)
SELECT o.user_id, o.mailbox, o.conversation_id, o.id AS original_id, o.subject, o.sender AS original_sender,
       o.sent_utc AS original_sent_utc, r.id AS reply_id, r.sender AS reply_sender, r.sent_utc AS reply_sent_utc,
       r.sender IS NOT DISTINCT FROM o.mailbox AS answered_by_mailbox,
       (epoch(r.sent_utc) - epoch(o.sent_utc)) / 60.0 AS latency_minutes
FROM originals o LEFT JOIN replies r ON r.user_id = o.user_id AND r.conversation_id = o.conversation_id"""

# Events that take up someone's time: live, not cancelled, with an end after their start.
_EVENTS = f"""{_MAILBOXES},
timed AS (
    SELECT user_id, id, subject, attendees, is_all_day, is_organizer, show_as, response_status,
           {_utc('start_date_time')} AS start_utc, {_utc('end_date_time')} AS end_utc
    FROM events
    WHERE _deleted_at IS NULL AND NOT coalesce(is_cancelled, false) AND coalesce(type, '') <> 'seriesMaster'
      AND end_date_time > start_date_time)"""

MEETING_HOURS_WEEKLY = f"""WITH {_EVENTS},
meetings AS (
    SELECT * FROM timed
    WHERE NOT coalesce(is_all_day, false) AND coalesce(json_array_length(attendees), 0) > 0
      AND coalesce(response_status, '') <> 'declined' AND coalesce(show_as, '') <> 'free')
SELECT m.user_id, b.mailbox, CAST(date_trunc('week', m.start_utc) AS DATE) AS week, count(*) AS meetings,
       count(*) FILTER (WHERE m.is_organizer) AS organized,
       sum(epoch(m.end_utc) - epoch(m.start_utc)) / 3600.0 AS meeting_hours
FROM meetings m LEFT JOIN mailboxes b ON b.user_id = m.user_id
GROUP BY m.user_id, b.mailbox, CAST(date_trunc('week', m.start_utc) AS DATE)"""

CALENDAR_FREE_BUSY_WEEKLY = f"""WITH {_EVENTS},
busy AS (SELECT user_id, start_utc, end_utc FROM timed WHERE show_as IN ('busy', 'tentative', 'oof')),
-- each busy event cut into the working hours of every weekday it touches
days AS (
    SELECT user_id, start_utc, end_utc, unnest(range(date_trunc('day', start_utc), end_utc, INTERVAL 1 DAY)) AS day
    FROM busy),
pieces AS (
    SELECT user_id, greatest(start_utc, day + INTERVAL {WORK_START_HOUR} HOUR) AS s,
           least(end_utc, day + INTERVAL {WORK_END_HOUR} HOUR) AS e
    FROM days WHERE isodow(day) <= 5),
-- overlapping pieces merged (gaps and islands), so double-booked time counts once
marked AS (
    SELECT user_id, s, e,
           CASE WHEN s <= max(e) OVER (PARTITION BY user_id ORDER BY s, e
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS starts
    FROM pieces WHERE e > s),
islands AS (
    SELECT user_id, s, e, sum(starts) OVER (PARTITION BY user_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
    FROM marked),
merged AS (SELECT user_id, min(s) AS s, max(e) AS e FROM islands GROUP BY user_id, island),
busy_weeks AS (
    SELECT user_id, CAST(date_trunc('week', s) AS DATE) AS week, sum(epoch(e) - epoch(s)) / 3600.0 AS busy_hours
    FROM merged GROUP BY user_id, CAST(date_trunc('week', s) AS DATE)),
span AS (
    SELECT min(week) AS first, max(week) AS last FROM (
        SELECT CAST(date_trunc('week', start_utc) AS DATE) AS week FROM timed UNION ALL SELECT week FROM busy_weeks)),
weeks AS (SELECT CAST(unnest(range(first, last + INTERVAL 7 DAY, INTERVAL 7 DAY)) AS DATE) AS week FROM span
          WHERE first IS NOT NULL),
people AS (
    SELECT user_id FROM calendars WHERE _deleted_at IS NULL UNION SELECT user_id FROM events WHERE _deleted_at IS NULL)
SELECT p.user_id, b.mailbox, w.week, CAST({WORK_HOURS_PER_WEEK} AS DOUBLE) AS working_hours,
       coalesce(bw.busy_hours, 0) AS busy_hours, {WORK_HOURS_PER_WEEK} - coalesce(bw.busy_hours, 0) AS free_hours,
       coalesce(bw.busy_hours, 0) / {WORK_HOURS_PER_WEEK} AS busy_share
FROM people p CROSS JOIN weeks w LEFT JOIN busy_weeks bw ON bw.user_id = p.user_id AND bw.week = w.week
     LEFT JOIN mailboxes b ON b.user_id = p.user_id"""

# Live drive items, and the path of every live folder from its drive's root ("/", "/Documents", ...).
_DRIVE = f"""RECURSIVE items AS (
    SELECT drive_id, id, name, parent_id, coalesce(is_folder, false) AS is_folder, size, last_modified_date_time,
           last_modified_by_user_name
    FROM drive_items WHERE _deleted_at IS NULL),
owners AS (SELECT id AS drive_id, owner_user_name AS owner FROM drives WHERE _deleted_at IS NULL),
folders(drive_id, id, path, depth) AS (
    SELECT drive_id, id, '/', 0 FROM items WHERE is_folder AND parent_id IS NULL
    UNION ALL
    SELECT i.drive_id, i.id, CASE WHEN f.path = '/' THEN '/' ELSE f.path || '/' END || i.name, f.depth + 1
    FROM folders f JOIN items i ON i.drive_id = f.drive_id AND i.parent_id = f.id
    WHERE i.is_folder AND f.depth < {MAX_FOLDER_DEPTH})"""

DRIVE_LARGEST_FOLDERS = f"""WITH {_DRIVE},
-- every file paired with each folder above it
above(drive_id, file_id, size, folder_id, depth) AS (
    SELECT drive_id, id, size, parent_id, 0 FROM items WHERE NOT is_folder AND parent_id IS NOT NULL
    UNION ALL
    SELECT a.drive_id, a.file_id, a.size, i.parent_id, a.depth + 1
    FROM above a JOIN items i ON i.drive_id = a.drive_id AND i.id = a.folder_id
    WHERE i.parent_id IS NOT NULL AND a.depth < {MAX_FOLDER_DEPTH}),
totals AS (
    SELECT drive_id, folder_id, count(DISTINCT file_id) AS files, CAST(coalesce(sum(size), 0) AS BIGINT) AS bytes
    FROM above GROUP BY drive_id, folder_id)
SELECT f.drive_id, o.owner AS drive_owner, f.id AS folder_id, f.path, coalesce(t.files, 0) AS files,
       coalesce(t.bytes, CAST(0 AS BIGINT)) AS total_bytes
FROM folders f LEFT JOIN totals t ON t.drive_id = f.drive_id AND t.folder_id = f.id
     LEFT JOIN owners o ON o.drive_id = f.drive_id"""

DRIVE_STALE_FILES = f"""WITH {_DRIVE}
SELECT i.drive_id, o.owner AS drive_owner, i.id AS item_id, i.name,
       CASE WHEN f.path = '/' THEN '/' ELSE f.path || '/' END || i.name AS path, i.size AS bytes,
       {_utc('i.last_modified_date_time')} AS last_modified_utc, i.last_modified_by_user_name AS last_modified_by,
       CAST(floor((epoch(current_timestamp) - epoch(i.last_modified_date_time)) / 86400) AS INTEGER) AS days_unmodified
FROM items i LEFT JOIN folders f ON f.drive_id = i.drive_id AND f.id = i.parent_id
     LEFT JOIN owners o ON o.drive_id = i.drive_id
WHERE NOT i.is_folder AND i.last_modified_date_time < current_timestamp - INTERVAL {STALE_AFTER_DAYS} DAY"""

# Only what people wrote: system events (members added, ...) are not activity.
_PEOPLES_MESSAGES = "coalesce(m.message_type, 'message') = 'message' AND m.deleted_date_time IS NULL"

CHAT_ACTIVITY_DAILY = f"""WITH chat_names AS (
    SELECT id AS chat_id, max(topic) AS topic, max(chat_type) AS chat_type FROM chats WHERE _deleted_at IS NULL
    GROUP BY id)
SELECT m.chat_id, c.topic, c.chat_type, CAST({_utc('m.created_date_time')} AS DATE) AS day, count(*) AS messages,
       count(DISTINCT m.from_user_id) AS senders
FROM chat_messages m LEFT JOIN chat_names c ON c.chat_id = m.chat_id
WHERE {_live('m')} AND {_PEOPLES_MESSAGES} AND m.created_date_time IS NOT NULL
GROUP BY m.chat_id, c.topic, c.chat_type, CAST({_utc('m.created_date_time')} AS DATE)"""

CHANNEL_ACTIVITY_DAILY = f"""SELECT m.team_id, t.display_name AS team, m.channel_id, c.display_name AS channel,
       CAST({_utc('m.created_date_time')} AS DATE) AS day, count(*) AS messages,
       count(*) FILTER (WHERE m.reply_to_id IS NULL) AS posts,
       count(*) FILTER (WHERE m.reply_to_id IS NOT NULL) AS replies,
       count(DISTINCT m.from_user_id) AS senders
FROM channel_messages m
     LEFT JOIN teams t ON t.id = m.team_id AND t._deleted_at IS NULL
     LEFT JOIN channels c ON c.team_id = m.team_id AND c.id = m.channel_id AND c._deleted_at IS NULL
WHERE {_live('m')} AND {_PEOPLES_MESSAGES} AND m.created_date_time IS NOT NULL
GROUP BY m.team_id, t.display_name, m.channel_id, c.display_name, CAST({_utc('m.created_date_time')} AS DATE)"""

VIEWS: tuple[View, ...] = (
    View("mail_volume_daily", "Messages per mailbox per UTC day (sent: from the mailbox's owner; received: the rest).",
         MAIL_VOLUME_DAILY),
    View("mail_top_senders", "Messages per sender address, each message once however many mailboxes hold a copy.",
         MAIL_TOP_SENDERS),
    View("mail_top_recipients", "Messages per recipient address (To, Cc or Bcc), each message once.",
         MAIL_TOP_RECIPIENTS),
    View("mail_after_hours", f"Messages sent on weekends or outside {WORK_START_HOUR:02d}:00-"
         f"{WORK_END_HOUR:02d}:00 UTC, one row per message and mailbox.", MAIL_AFTER_HOURS),
    View("mail_reply_latency", "Per mailbox and conversation: minutes from its first message to the first later one "
         "from another sender (NULL: no reply yet).", MAIL_REPLY_LATENCY),
    View("meeting_hours_weekly", "Hours in meetings (timed events with attendees, not cancelled or declined) per "
         "person per UTC week.", MEETING_HOURS_WEEKLY),
    View("calendar_free_busy_weekly", f"Busy (busy, tentative or out of office) and free hours within the "
         f"{WORK_HOURS_PER_WEEK} working hours (Mon-Fri {WORK_START_HOUR:02d}:00-{WORK_END_HOUR:02d}:00 UTC) of each "
         "week, per person.", CALENDAR_FREE_BUSY_WEEKLY),
    View("drive_largest_folders", "Every drive folder with the number and total size of the files anywhere below it.",
         DRIVE_LARGEST_FOLDERS),
    View("drive_stale_files", f"Files not modified for {STALE_AFTER_DAYS} days or more.", DRIVE_STALE_FILES),
    View("chat_activity_daily", "Messages people wrote per chat per UTC day.", CHAT_ACTIVITY_DAILY),
    View("channel_activity_daily", "Posts and replies per Teams channel per UTC day.", CHANNEL_ACTIVITY_DAILY),
)
VIEW_NAMES = tuple(view.name for view in VIEWS)


def create_statements(temporary: bool = False) -> list[str]:
    """Each view, then its description as its comment (`duckdb_views()` shows it to whoever opens the file)."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    statements = []
    for view in VIEWS:
        statements.append(f"CREATE OR REPLACE {kind} {view.name} AS\n{view.sql}")
        statements.append(f"COMMENT ON VIEW {view.name} IS '{view.description.replace(chr(39), chr(39) * 2)}'")
    return statements


def create_views(connection: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every view in the open warehouse (in the caller's transaction, after the tables)."""
    for statement in create_statements():
        connection.execute(statement)


def missing_views(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """The analytics views the open file does not hold (made by a graphsync without them)."""
    present = {row[0] for row in connection.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal").fetchall()}
    return [name for name in VIEW_NAMES if name not in present]


def create_temp_views(connection: duckdb.DuckDBPyConnection) -> None:
    """The views for this session only: a read-only connection may create TEMP views, which shadow
    (here: stand in for) views the file lacks until its next sync writes them for good."""
    for statement in create_statements(temporary=True):
        connection.execute(statement)
