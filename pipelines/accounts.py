"""`graphsync login`, `logout` and `accounts`: the people signed in for delegated sync.

Sign-in asks once for every delegated permission the sync plan's tables need
(`routes.delegated_scopes`), so a later sync of any table never has to ask again.
"""

from __future__ import annotations

import argparse
import os
import sys

from connectors.graph.delegated import PublicClient
from connectors.settings import load_settings
from pipelines.sync.routes import delegated_scopes


def _client() -> PublicClient:
    return PublicClient(load_settings(dict(os.environ), require_secret=False))


def run_login(args: argparse.Namespace) -> int:
    client = _client()
    try:
        scopes = delegated_scopes(client.settings, writeback=args.writeback)
        account = client.sign_in(scopes, tell=lambda line: print(line, flush=True), login_hint=args.user)
    finally:
        client.close()
    print(f"signed in as {account['username']}", flush=True)
    return 0


def run_logout(args: argparse.Namespace) -> int:
    client = _client()
    try:
        removed = client.sign_out(args.user)
    finally:
        client.close()
    if args.user and not removed:
        raise LookupError(f"{args.user} is not signed in (see `graphsync accounts`)")
    for username in removed:
        print(f"signed out {username}")
    if not removed:
        print("nobody was signed in")
    return 0


def run_accounts(args: argparse.Namespace) -> int:
    client = _client()
    try:
        accounts = client.accounts()
    finally:
        client.close()
    where = "encrypted" if client.encrypted else "a file only you can read (mode 0600; no keystore here)"
    if not accounts:
        print(f"nobody is signed in: run `graphsync login --user UPN` (token cache: {where})", file=sys.stderr)
        return 0
    for account in accounts:
        print(account.get("username", ""))
    print(f"({len(accounts)} signed in; token cache: {where})", file=sys.stderr)
    return 0
