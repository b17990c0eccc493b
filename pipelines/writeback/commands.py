"""`graphsync writeback ...`: enqueue, ops, status, cancel, retry and run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.settings import GraphSettings, command_settings
from pipelines.writeback.errors import ActionFileError

if TYPE_CHECKING:  # the queue's modules (SQLModel, MSAL) are imported only by write-back commands
    from pipelines.writeback.actions import Context
    from warehouse.queue import ActionQueue, Enqueued


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    writeback = commands.add_parser("writeback", help="queue Graph actions and replay them exactly once")
    sub = writeback.add_subparsers(dest="writeback_command", required=True)
    enqueue = sub.add_parser("enqueue", help="validate and queue the actions of a JSON Lines file")
    enqueue.add_argument("--file", required=True, help="actions, one JSON object per line ('-': stdin)")
    sub.add_parser("run", help="replay the queued actions against Graph")
    sub.add_parser("status", help="counts per status, and failed or conflicting actions with their errors")
    sub.add_parser("ops", help="the operation catalogue")
    show = sub.add_parser("show", help="one action as JSON: its result (e.g. getSchedule's), history and attempts")
    show.add_argument("action", metavar="ID_OR_KEY")
    cancel = sub.add_parser("cancel", help="cancel pending actions")
    cancel.add_argument("actions", nargs="+", metavar="ID_OR_KEY")
    retry = sub.add_parser("retry", help="requeue failed actions")
    retry.add_argument("--failed", action="store_true", required=True)
    for parser in sub.choices.values():
        parser.add_argument("--db", help="warehouse file (default: $GRAPHSYNC_DB or ./graphsync.duckdb); "
                                         "the queue is beside it, NAME.queue.sqlite")
    writeback.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from warehouse.queue import ActionQueue, queue_path

    if args.writeback_command == "ops":
        from pipelines.writeback.catalogue import ops_table

        print(ops_table())
        return 0
    settings = command_settings(getattr(args, "db", None))
    queue = ActionQueue(queue_path(settings.db_path))
    if args.writeback_command == "enqueue":
        return enqueue(settings, queue, args.file)
    if args.writeback_command == "status":
        return status(queue)
    if args.writeback_command == "show":
        return show(queue, args.action)
    if args.writeback_command == "cancel":
        for action in queue.cancel(args.actions):
            print(f"cancelled {action.id} ({action.key})")
        return 0
    if args.writeback_command == "retry":
        again = queue.retry_failed()
        print(f"{len(again)} failed action(s) pending again")
        return 0
    return replay(settings, queue)


def replay(settings: GraphSettings, queue: ActionQueue) -> int:
    """`graphsync writeback run`: replay what is pending, one line per failure."""
    import asyncio

    from pipelines.writeback.replay import Replay
    from warehouse import Warehouse

    report = asyncio.run(Replay(settings, queue, Warehouse(settings.db_path)).run())
    done = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items())) or "nothing to do"
    print(f"write-back finished in {report.seconds:.1f} s: {done}; {report.requests} requests")
    for line in report.failed:
        print(f"  ! {line}")
    if report.failed or report.pending:
        raise LookupError(f"{len(report.failed)} action(s) failed or conflicted, {report.pending} still pending; "
                          "see `graphsync writeback status`")
    return 0


def context_for(settings: GraphSettings, queue: ActionQueue, base: Path) -> Context:
    from connectors.graph.delegated import signed_in
    from pipelines.writeback.actions import Context

    accounts = {str(a.get("username", "")).lower() for a in signed_in(settings.token_cache)}
    return Context(auth=settings.auth, signed_in=accounts, base=base, queued=lambda keys: set(queue.known_keys(keys)))


def enqueue_text(settings: GraphSettings, queue: ActionQueue, text: str, source: str,
                 base: Path) -> list[Enqueued]:
    """Validate a whole file and queue it (Python callers use this too); ActionFileError: nothing queued."""
    from pipelines.writeback.actions import parse_lines

    actions = parse_lines(text, source, context_for(settings, queue, base))
    return queue.enqueue(actions)


def enqueue(settings: GraphSettings, queue: ActionQueue, file: str) -> int:
    if file == "-":
        text, source, base = sys.stdin.read(), "stdin", Path.cwd()
    else:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ActionFileError(file, [(0, f"cannot read it: {getattr(exc, 'strerror', None) or exc}")]) from None
        source, base = str(path), path.resolve().parent
    done = enqueue_text(settings, queue, text, source, base)
    for item in done:
        print(f"{item.action_id}\t{item.key}" + ("" if item.new else "\t(already queued)"))
    fresh = sum(item.new for item in done)
    print(f"queued {fresh} action(s)" + (f", {len(done) - fresh} already queued" if fresh < len(done) else ""),
          file=sys.stderr)
    return 0


def show(queue: ActionQueue, id_or_key: str) -> int:
    """One action as JSON: what was queued, where it stands, what Graph answered, every attempt."""
    import json

    action = queue.find(id_or_key)
    if action is None:
        raise LookupError(f"no write-back action {id_or_key!r} (an id or key from `graphsync writeback status`)")
    out = action.model_dump(mode="json")
    out["history"] = [change.model_dump(mode="json", exclude={"id", "action_id"})
                      for change in queue.history(action.id or 0)]
    out["attempts_made"] = [attempt.model_dump(mode="json", exclude={"id", "action_id"})
                            for attempt in queue.attempts_of(action.id or 0)]
    print(json.dumps(out, indent=2))
    return 0


def status(queue: ActionQueue) -> int:
    from models.writeback import CONFLICT, FAILED, STATUSES

    counts = queue.counts()
    print("  ".join(f"{name} {counts[name]}" for name in STATUSES))
    for action in queue.actions([FAILED, CONFLICT]):
        print(f"{action.id}\t{action.key}\t{action.status}\t{action.op}\t{action.error or ''}")
    return 0

