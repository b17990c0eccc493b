"""`python -m bench [--quick] [--only NAME,...] [--out PATH]`: run the scenarios, print the table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.context import FULL, QUICK, Context, scratch_dir
from bench.report import markdown, run_info, write_json
from bench.scenarios import SCENARIOS, run_all

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny tenant: checks the harness, not performance")
    parser.add_argument("--only", help=f"comma-separated scenarios (of {', '.join(s.name for s in SCENARIOS)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default bench/results.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    wanted = set(args.only.split(",")) if args.only else None
    selected = [s for s in SCENARIOS if wanted is None or s.name in wanted]
    if wanted and len(selected) != len(wanted):
        raise SystemExit(f"unknown scenario in {args.only!r}")
    started = time.monotonic()
    with scratch_dir() as workdir:
        ctx = Context(profile, Path(workdir))
        try:
            outcomes = run_all(ctx, selected)
        finally:
            ctx.close()
    info = run_info(profile)
    info["bench_seconds"] = round(time.monotonic() - started, 1)
    print(markdown(outcomes, info))
    write_json(args.out, outcomes, info)
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
