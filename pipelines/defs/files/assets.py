"""Files: each user's OneDrive and its items through root delta (deletions arrive as the `deleted` facet)."""

from pipelines.defs.families import FAMILIES, UNIQUE_KEY_CHECKS

drive_items = FAMILIES[("files", True)]
drive_items_have_unique_keys = UNIQUE_KEY_CHECKS["drive_items"]
