"""Files: each user's OneDrive items through root delta (deletions arrive as the `deleted` facet)."""

from pipelines.defs.mailbox_assets import per_mailbox_asset, unique_keys_check

drive_items = per_mailbox_asset(
    "drive_items", "files",
    "Every file and folder of each user's OneDrive (the drive itself lands in `drives`); users without "
    "OneDrive are skipped.",
)
drive_items_have_unique_keys = unique_keys_check("drive_items")
