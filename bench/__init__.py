"""graphsync's benchmark harness: `python -m bench` (or `make bench`).

Every measured party (graphsync, the fetch floor, dlt) and the tenant simulator run in processes
of their own, so wall time and peak RSS belong to the party alone.
"""
