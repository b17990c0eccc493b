"""Mail: each mailbox's folders and messages, through mailFolders delta and messages delta per folder.

One multi-asset (see families.py) because a mailbox's message streams are discovered from its folder
stream. Runs cover a batch of mailbox partitions at once (single-run backfills), so thousands of
mailboxes do not mean thousands of runs.
"""

import dagster as dg

from pipelines.defs.families import FAMILIES, UNIQUE_KEY_CHECKS
from pipelines.resources import WarehouseResource

mail = FAMILIES[("mail", True)]
messages_have_unique_keys = UNIQUE_KEY_CHECKS["messages"]


@dg.asset_check(asset="messages", description="Every live message's folder exists and is live.")
def live_messages_have_live_folders(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    orphans = warehouse.warehouse().query_df("""
        SELECT m.user_id, m.id, m.parent_folder_id FROM messages m
        LEFT JOIN mail_folders f ON f.user_id = m.user_id AND f.id = m.parent_folder_id AND f._deleted_at IS NULL
        WHERE m._deleted_at IS NULL AND f.id IS NULL""")
    return dg.AssetCheckResult(passed=orphans.empty, metadata={"orphaned_messages": len(orphans)})
