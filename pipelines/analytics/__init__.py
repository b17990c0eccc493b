"""Analytics over the warehouse: `graphsync sql` (read-only queries) and `graphsync report` (an HTML page
of charts). The views both read are defined in :mod:`warehouse.views`, since they live in the warehouse
file itself and the warehouse layer creates them; this package only reads."""

from warehouse.views import VIEW_NAMES, VIEWS, View

__all__ = ["VIEWS", "VIEW_NAMES", "View"]
