"""The DuckDB warehouse: DDL from the models, set-based merge SQL, and the locked writer.

Usage by the sync engine::

    wh = Warehouse(settings.db_path)            # nothing is opened yet
    wh.ensure_schema()                          # refuses a file graphsync did not make; migrates an old one
    state = wh.load_state("messages", f"{user_id}/{folder_id}")
    ... call Graph with the warehouse closed ...
    counts = wh.apply([PageBatch(...), ...], now=datetime.now(UTC))   # one transaction
"""

from warehouse.errors import ForeignFile, NewerWarehouse, WarehouseError, WarehouseLocked
from warehouse.writer import ApplyCounts, PageBatch, StreamState, Warehouse

__all__ = ["ApplyCounts", "ForeignFile", "NewerWarehouse", "PageBatch", "StreamState", "Warehouse", "WarehouseError",
           "WarehouseLocked"]
