"""The operation catalogue: every POST, PATCH, PUT and DELETE of the seed, by name.

The declarations are per area (catalogue_outlook.py: mail, calendar, users; catalogue_teams_files.py:
Teams and OneDrive), each taken from its Graph v1.0 doc page. `graphsync writeback ops` prints them.
"""

from __future__ import annotations

from pipelines.writeback.catalogue_outlook import OUTLOOK_OPS
from pipelines.writeback.catalogue_teams_files import TEAMS_FILES_OPS
from pipelines.writeback.op import Op

OPS: tuple[Op, ...] = (*OUTLOOK_OPS, *TEAMS_FILES_OPS)
CATALOGUE: dict[str, Op] = {op.name: op for op in OPS}
if len(CATALOGUE) != len(OPS):
    raise ValueError("write-back catalogue: an op is declared twice")


def modes(op: Op) -> str:
    return " and ".join(m for m, ok in (("app-only", op.app_only), ("delegated", op.delegated)) if ok)


def ops_table() -> str:
    """`graphsync writeback ops`: one line per op."""
    lines = ["op | sent as | body | success | auth | after ambiguous failure | warehouse effect", ""]
    for op in OPS:
        effect = f"{op.effect.value} {op.table}".strip()
        sent = op.sent_as if op.graph else "same"
        success = f"{op.success} (app-only {op.success_app})" if op.success_app else str(op.success)
        lines.append(f"{op.name} | {sent} | {op.body.value} | {success} | {modes(op)} | {op.retry.value} | {effect}"
                     + (f"  ({op.note})" if op.note else ""))
    return "\n".join(lines)
