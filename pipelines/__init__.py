import sys

# httpx imports its command-line client (click, rich, pygments: 60 ms, a sixth of graphsync's start-up
# and 6% of an incremental sync) on `import httpx`, only to offer `httpx.main`, which graphsync never
# calls. A None entry makes that optional import fail, as httpx allows for when those extras are
# missing; httpx.main then just says they are not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
