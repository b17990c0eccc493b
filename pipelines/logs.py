"""What graphsync logs, and how: `-v` for retries, throttling, lock waits and skipped tables, as text
or (`--log-format json`) one JSON object per line for log shippers. Both go to stderr, so stdout
stays the command's output.

Events carry their facts as fields (`extra={"event": "retry", "seconds": 2.0}`); the text form shows
the message only, the JSON form the message and the fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

ROOT = "graphsync"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        return json.dumps(out, default=str)


def configure(verbosity: int, fmt: str = "text") -> None:
    """0: errors only (the command prints its own lines); 1 (-v): what a run did and waited for;
    2 (-vv): debug detail."""
    logger = logging.getLogger(ROOT)
    logger.handlers.clear()
    logger.propagate = False
    level = {0: logging.ERROR, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logger.setLevel(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter("graphsync: %(message)s"))
    logger.addHandler(handler)
