"""The `graphsync` command line: sync, demo and the tenant simulator.

Every command exits 0 on success and non-zero with one human-readable line otherwise; `--debug`
shows the traceback instead. Secrets never reach the output: settings and errors mask them.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import math
import os
import ssl
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import duckdb

from connectors.graph import AuthError, GraphClientError
from connectors.settings import SettingsError, command_settings
from pipelines.accounts import run_accounts, run_login, run_logout
from pipelines.logs import configure as configure_logs
from pipelines.reporting import LiveProgress, print_summary
from pipelines.sync.exclusive import SyncSkipped
from pipelines.sync.tenant import ALL_TABLES, DEFAULT_TABLES, SyncOptions, SyncReport, TenantSync
from pipelines.writeback import commands as writeback_commands
from pipelines.writeback.errors import ActionFileError
from warehouse import Warehouse, WarehouseError

EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A failure whose message is already the one line the user should read."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logs(args.verbose, args.log_format)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("graphsync: interrupted; re-run the same command to resume where it stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read our output went away (`| head`): the work itself is done and stored.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CommandError, SettingsError, AuthError, GraphClientError, WarehouseError, LookupError,
            ActionFileError, OSError, ssl.SSLError, UnicodeDecodeError, duckdb.Error) as exc:
        if args.debug:
            raise
        print(f"graphsync: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


def one_line(exc: BaseException) -> str:
    """The error as one line; for errors the machine gave (a full disk, a read-only folder) the cause
    first, and the first error of a chain rather than a later one it caused ("cannot rollback")."""
    root = _first_cause(exc)
    if isinstance(root, OSError) and root.errno is not None:
        where = f": {root.filename}" if root.filename else ""
        hint = {errno.ENOSPC: " (the disk is full)", errno.EROFS: " (read-only file system)",
                errno.EACCES: " (permission denied)"}.get(root.errno, "")
        return f"{root.strerror or root}{where}{hint}"
    if isinstance(root, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({root.reason} at byte {root.start})"
    text = " ".join(str(root).split())
    return text or type(root).__name__


def _first_cause(exc: BaseException) -> BaseException:
    """The machine error underneath a library's own (duckdb, ssl); our own messages stay as they are."""
    if isinstance(exc, CommandError | SettingsError | AuthError | GraphClientError | LookupError | ActionFileError):
        return exc
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        # `raise ... from None` means its author already said it all: stop there.
        below = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if below is None:
            break
        current = below
    return current if isinstance(current, OSError | UnicodeDecodeError | duckdb.Error) else exc


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too, naming where to read more (subcommands' parsers are the same kind)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"graphsync: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphsync", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"graphsync {_version()}")
    _logging_options(parser, 0, "text")
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="sync the configured tenant into the warehouse")
    sync.add_argument("--only", type=_tables, default=DEFAULT_TABLES, metavar="TABLE,...",
                      help=f"tables to sync (default: {', '.join(DEFAULT_TABLES)}; opt-in, by name only: "
                           f"{', '.join(t for t in ALL_TABLES if t not in DEFAULT_TABLES)})")
    sync.add_argument("--user", action="extend", type=_names, default=[], metavar="ID_OR_UPN[,...]",
                      help="only these mailboxes (delegated: these signed-in accounts); repeat or separate by commas")
    sync.add_argument("--full", action="store_true", help="drop saved delta state first and enumerate everything")
    sync.add_argument("--db", help="DuckDB warehouse file (default: $GRAPHSYNC_DB or ./graphsync.duckdb)")
    sync.add_argument("--quiet", action="store_true",
                      help="no progress, and no summary unless something could not be read")
    sync.add_argument("--if-running", choices=["wait", "skip"], default="wait",
                      help="when another sync of this warehouse is running: wait for it (default), or skip")
    sync.add_argument("--page-size", type=_bounded(int, 1, 1000), metavar="N",
                      help="items per Graph page (Prefer: odata.maxpagesize), 1-1000")
    sync.add_argument("--lock-timeout", type=_bounded(float, 0, 86_400), default=60.0, metavar="SECONDS",
                      help="how long to wait for another process holding the warehouse (default 60)")
    _logging_options(sync, argparse.SUPPRESS, argparse.SUPPRESS)
    sync.set_defaults(handler=run_sync)

    status = commands.add_parser("status", help="tables, when each was last synced, and the recent runs")
    status.add_argument("--db", help="DuckDB warehouse file (default: $GRAPHSYNC_DB or ./graphsync.duckdb)")
    status.add_argument("--json", action="store_true", help="the same as JSON")
    status.set_defaults(handler=run_status_command)

    sql = commands.add_parser("sql", help="run a read-only SQL query on the warehouse (tables and analytics views)")
    sql.add_argument("query", help='the query, e.g. "SELECT * FROM mail_volume_daily"; - reads it from stdin')
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table",
                     help="aligned table (default), CSV with a header, or a JSON array of records")
    sql.add_argument("--db", help="DuckDB warehouse file (default: $GRAPHSYNC_DB or ./graphsync.duckdb)")
    sql.add_argument("--lock-timeout", type=_bounded(float, 0, 86_400), default=60.0, metavar="SECONDS",
                     help="how long to wait for a sync holding the warehouse (default 60)")
    sql.set_defaults(handler=run_sql_command)

    report = commands.add_parser("report", help="write one self-contained HTML page of charts over the analytics views")
    report.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    report.add_argument("--db", help="DuckDB warehouse file (default: $GRAPHSYNC_DB or ./graphsync.duckdb)")
    report.add_argument("--lock-timeout", type=_bounded(float, 0, 86_400), default=60.0, metavar="SECONDS",
                        help="how long to wait for a sync holding the warehouse (default 60)")
    report.set_defaults(handler=run_report_command)

    demo = commands.add_parser("demo", help="sync the built-in tenant simulator, change it, sync again")
    demo.add_argument("--db", default="graphsync-demo.duckdb", help="warehouse file for the demo")
    demo.add_argument("--scale", choices=["small", "medium"], default="small")
    _logging_options(demo, argparse.SUPPRESS, argparse.SUPPRESS)
    demo.set_defaults(handler=run_demo)

    check = commands.add_parser("check", help="connection test: can the app read each table?")
    check.add_argument("--only", type=_tables, default=DEFAULT_TABLES, metavar="TABLE,...",
                       help="tables to check (default: all)")
    check.add_argument("--json", action="store_true", help="the same as JSON")
    check.set_defaults(handler=run_check_command)

    login = commands.add_parser("login", help="sign in with the device code flow, for delegated sync")
    login.add_argument("--user", metavar="UPN", help="the account to sign in as (checked after sign-in)")
    login.add_argument("--writeback", action="store_true",
                       help="also consent to the write permissions of the write-back ops (default: read only)")
    login.set_defaults(handler=run_login)
    logout = commands.add_parser("logout", help="forget one signed-in account (or all)")
    logout.add_argument("--user", metavar="UPN")
    logout.set_defaults(handler=run_logout)
    commands.add_parser("accounts", help="list the signed-in accounts").set_defaults(handler=run_accounts)

    writeback_commands.add_parser(commands)

    simulator = commands.add_parser("simulator", help="the Graph tenant simulator")
    sim_commands = simulator.add_subparsers(dest="simulator_command", required=True)
    serve = sim_commands.add_parser("serve", help="serve the simulator over HTTPS until interrupted")
    serve.add_argument("--port", type=_bounded(int, 0, 65_535), default=8443, help="0: any free port")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", choices=["tiny", "small", "medium", "large", "huge"], default="small")
    serve.add_argument("--state-dir", default=".graphsync/simulator", help="where the CA certificate is written")
    serve.add_argument("--deny", type=lambda v: [p.strip() for p in v.split(",") if p.strip()], default=[],
                       metavar="PERMISSION,...", help="withhold these Graph permissions from every token issued")
    serve.set_defaults(handler=run_serve)
    return parser


def _logging_options(parser: argparse.ArgumentParser, verbose: object, fmt: object) -> None:
    """-v and --log-format, on the main parser and on the commands that run long (where a subcommand's
    own default must not overwrite what was given before it, hence SUPPRESS there)."""
    parser.add_argument("-v", "--verbose", action="count", default=verbose,
                        help="log retries, throttling, lock waits and skipped tables to stderr (-vv: more)")
    parser.add_argument("--log-format", choices=["text", "json"], default=fmt,
                        help="log lines as text or one JSON object each")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("graphsync")
    except PackageNotFoundError:
        return "0+unknown"


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _bounded(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number of `kind` within [low, high] (nan and inf refused)."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range {low:g}-{high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _tables(value: str) -> tuple[str, ...]:
    tables = tuple(t.strip() for t in value.split(",") if t.strip())
    unknown = [t for t in tables if t not in ALL_TABLES]
    if unknown or not tables:
        raise argparse.ArgumentTypeError(f"unknown table {', '.join(unknown) or value!r}; "
                                         f"choose from {', '.join(ALL_TABLES)}")
    return tables


# -- status ----------------------------------------------------------------------------------------
def run_status_command(args: argparse.Namespace) -> int:
    from connectors.settings import warehouse_path
    from pipelines.status import run_status

    return run_status(warehouse_path(args.db), args.json)


# -- sql and report (pipelines.analytics) ------------------------------------------------------------
def run_sql_command(args: argparse.Namespace) -> int:
    from connectors.settings import warehouse_path
    from pipelines.analytics.sql import run_sql

    query = sys.stdin.read() if args.query == "-" else args.query
    return run_sql(warehouse_path(args.db), query, args.format, args.lock_timeout)


def run_report_command(args: argparse.Namespace) -> int:
    from connectors.settings import warehouse_path
    from pipelines.analytics.report import write_report

    out = write_report(warehouse_path(args.db), Path(args.out), args.lock_timeout)
    print(f"wrote {out}")
    return 0


# -- check -----------------------------------------------------------------------------------------
def run_check_command(args: argparse.Namespace) -> int:
    """Exit 0 only if every selected table is readable (or has nothing to try)."""
    from pipelines.check import render, run_check

    results = run_check(command_settings(), args.only)
    print(json.dumps([r.as_dict() for r in results], indent=2) if args.json else render(results))
    bad = [r for r in results if not r.ok]
    if bad:
        raise CommandError(f"{len(bad)} of {len(results)} table(s) not readable: "
                           + "; ".join(f"{r.table}: {r.state}" for r in bad))
    return 0


# -- sync ------------------------------------------------------------------------------------------
def run_sync(args: argparse.Namespace) -> int:
    settings = command_settings(args.db)
    warehouse = Warehouse(settings.db_path, lock_timeout_s=args.lock_timeout)
    options = SyncOptions(tables=args.only, users=tuple(args.user), full=args.full, page_size=args.page_size,
                          if_running=args.if_running, skip_covered=True)
    progress = None if args.quiet else LiveProgress()
    sync = TenantSync(settings, warehouse, options, on_progress=progress,
                      progress_every_s=progress.every_s if progress else 2.0)
    try:
        report = asyncio.run(sync.run())
    except SyncSkipped as skipped:  # not a failure: the sync that is running does the work
        print(f"graphsync: {skipped}", file=sys.stderr)
        return 0
    finally:
        if progress is not None:
            progress.close()
    if not args.quiet or report.failed:  # a run that failed in part shows what it stored, quiet or not
        print_summary(report)
    return _exit_code(report)


def _exit_code(report: SyncReport) -> int:
    if not report.failed:
        return 0
    raise CommandError(f"not everything could be read: skipped {report.skipped_line()}; "
                       "the rest is stored (details above)")


# -- simulator -------------------------------------------------------------------------------------
def run_serve(args: argparse.Namespace) -> int:
    # The simulator (uvicorn, trustme) is imported only by the commands that run it: `sync` starts faster.
    from connectors.simulator import content
    from connectors.simulator.server import Endpoints, Simulator
    from connectors.simulator.tenant import TenantConfig

    config = TenantConfig(seed=args.seed, scale=content.SCALES[args.scale])
    simulator = Simulator(config, state_dir=Path(args.state_dir), port=args.port, denied=frozenset(args.deny))

    def announce(endpoints: Endpoints) -> None:
        print(f"# graphsync tenant simulator ({args.scale}, seed {args.seed}); paste into .env:")
        for key, value in endpoints.env().items():
            print(f"{key}={value}")
        print(f"# token URL {endpoints.token_url}\n# API URL   {endpoints.api_url}\n# CA path   {endpoints.ca_path}",
              flush=True)

    try:
        simulator.serve_forever(on_ready=announce)
    except OSError as exc:
        raise CommandError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


# -- demo ------------------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import Demo

    with tempfile.TemporaryDirectory(prefix="graphsync-demo-") as state_dir:
        Demo(Path(args.db), args.scale, Path(state_dir)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
