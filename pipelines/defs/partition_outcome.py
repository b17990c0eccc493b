"""What one batched run did for each of its `mailboxes` partitions: its own counts, and what failed.

A run syncs its batch of mailboxes in one sync, whose report records every stream round under the
label it ran as: the mailbox's user id, or `chat <id>` for a chat's members and messages, which are
read once for all the members who list that chat. Here each label is mapped back to the run's
partitions (a chat to every partition whose live `chats` rows list it), so a partition's numbers
are those of its own mailbox and of the chats it is in; a chat shared by two mailboxes of a batch
is read once and counted in both.

A (table, partition) failed when its mailbox was not synced at all, or when that table, or a table
above it in the plan (no folders read, no messages), could not be read for one of the partition's
labels. A failure that names no partition of the batch fails that table for every partition: no
partition can be said to be complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.sync.engine import StreamStats
from pipelines.sync.plan import Root, StreamSpec
from pipelines.sync.streams import PLAN
from pipelines.sync.tenant import SyncReport
from warehouse import Warehouse

REASON_CHARS = 1_000  # a mailbox refused on every folder repeats one error per folder
NOT_SYNCED = "not synced: no live user (delegated: signed-in account) has this id"


def _spec(table: str) -> StreamSpec:
    return next(s for s in PLAN.streams.values() if s.table == table)


def owners_sql(table: str) -> str:
    """SQL giving `_id` (the row's id) and `_user` (the mailbox it belongs to) of the table's live rows.

    A table whose scope holds the user id says so itself (messages, drives by their owner); one below
    another (drive items by their drive, chat messages by the chats listing their chat) takes its
    parent's owners, so a chat's rows belong to each member's mailbox."""
    spec = _spec(table)
    column_of = {name: column for column, name in spec.rows_of_scope()}
    if "user_id" in column_of:
        return f'SELECT "id" AS _id, "{column_of["user_id"]}" AS _user FROM "{table}" WHERE _deleted_at IS NULL'
    parent = spec.parent
    if parent is None or len(parent.fields) != 1 or parent.fields[0][1] != "id":
        raise ValueError(f"{table}: its rows name no mailbox, so it cannot be partitioned by mailbox")
    name, _ = parent.fields[0]
    return (f'SELECT c."id" AS _id, p._user FROM "{table}" AS c '
            f'JOIN ({owners_sql(PLAN[parent.stream].table)}) AS p ON c."{column_of[name]}" = p._id '
            "WHERE c._deleted_at IS NULL")


def lineage(table: str, tables: Iterable[str]) -> list[str]:
    """The table and the tables above it in the plan, of `tables`."""
    among, found = set(tables), []
    spec: StreamSpec | None = _spec(table)
    while spec is not None:
        if spec.table in among:
            found.append(spec.table)
        spec = PLAN[spec.parent.stream] if spec.parent else None
    return found


def _in(values: list[str]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


def label_owners(warehouse: Warehouse, tables: tuple[str, ...], partitions: list[str]) -> dict[str, set[str]]:
    """Each label the run's work may be recorded under -> the partitions of the batch it belongs to."""
    owners: dict[str, set[str]] = {p: {p} for p in partitions}
    queries = []
    for table in tables:
        spec = _spec(table)
        if spec.root is Root.MAILBOX or spec.parent is None:
            continue
        parent_table = PLAN[spec.parent.stream].table  # an instance's label: "<root> <its parent row's id>"
        queries.append(f"SELECT DISTINCT '{spec.root.value} ' || _id, _user FROM ({owners_sql(parent_table)}) "
                       f"WHERE _user IN ({_in(partitions)})")
    if queries:
        rows = warehouse.query_rows(" UNION ".join(queries), partitions * len(queries))
        for label, user in rows:
            owners.setdefault(label, set()).add(user)
    return owners


def live_rows(warehouse: Warehouse, tables: tuple[str, ...], partitions: list[str]) -> dict[tuple[str, str], int]:
    """(table, partition) -> live rows of that mailbox, for every table in one query."""
    parts = [f"SELECT '{t}', _user, count(*) FROM ({owners_sql(t)}) WHERE _user IN ({_in(partitions)}) GROUP BY _user"
             for t in tables]
    rows = warehouse.query_rows(" UNION ALL ".join(parts), partitions * len(parts))
    return {(table, user): int(n) for table, user, n in rows}


@dataclass
class PartitionOutcome:
    """Per (table, partition): the stream stats of its labels, its live rows, or why it failed."""

    stats: dict[tuple[str, str], StreamStats] = field(default_factory=dict)
    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def failed_partitions(self) -> dict[str, str]:
        """Partition -> why (its tables' reasons, once each)."""
        reasons: dict[str, list[str]] = {}
        for (_, partition), reason in self.failures.items():
            if reason not in reasons.setdefault(partition, []):
                reasons[partition].append(reason)
        return {p: "; ".join(r)[:REASON_CHARS] for p, r in reasons.items()}


def outcome(report: SyncReport, warehouse: Warehouse, tables: tuple[str, ...],
            partitions: list[str]) -> PartitionOutcome:
    """Each (table, partition) of a batched run: its own stats and live rows, or why it failed."""
    owners = label_owners(warehouse, tables, partitions)
    result = PartitionOutcome(rows=live_rows(warehouse, tables, partitions))
    table_of = {name: PLAN[name].table for streams in report.by_label.values() for name in streams}
    for label, streams in report.by_label.items():
        for name, stats in streams.items():
            if table_of[name] in tables:
                for partition in owners.get(label, ()):
                    result.stats.setdefault((table_of[name], partition), StreamStats()).add(stats)
    synced = set(report.mailboxes)
    for table in tables:
        for partition in partitions:
            if partition not in synced:
                result.failures[(table, partition)] = NOT_SYNCED
        for above in lineage(table, tables):
            _, _, labels = report.skipped.get(above, ("", Root.MAILBOX, set()))
            for label in labels:
                why = _first(report.failed.get(label, ""), above)
                if label not in partitions:  # a chat: say which
                    why = f"{label}: {why}"
                for partition in owners.get(label) or partitions:  # nobody's in particular: everybody's
                    result.failures.setdefault((table, partition), why)
    return result


def _first(errors: str, table: str) -> str:
    """The first of a label's errors about `table` ("table: error; table: error; ..."), and how many
    more there are: a mailbox refused on every folder gives one error per folder."""
    first, *more = [e for e in errors.split("; ") if e.startswith(f"{table}: ")] or [f"{table}: not readable"]
    return f"{first} (and {len(more)} more)" if more else first
