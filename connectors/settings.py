"""Connection settings for Microsoft Graph, read from the environment and a `.env` file.

The variable names and defaults are part of the product's outside interface
(see INTERFACE.md); the client secret is wrapped so it cannot leak through repr/str/logs.
"""

from __future__ import annotations

import hmac
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
DEFAULT_API_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_DB_PATH = "./graphsync.duckdb"
TOKEN_PATH_SUFFIX = "/oauth2/v2.0/token"

ENV_TENANT_ID = "GRAPH_TENANT_ID"
ENV_CLIENT_ID = "GRAPH_CLIENT_ID"
ENV_CLIENT_SECRET = "GRAPH_CLIENT_SECRET"
ENV_TOKEN_URL = "GRAPH_TOKEN_URL"
ENV_API_URL = "GRAPH_API_URL"
ENV_CA_BUNDLE = "GRAPH_CA_BUNDLE"
ENV_DB = "GRAPHSYNC_DB"
ENV_AUTH = "GRAPH_AUTH"
ENV_TOKEN_CACHE = "GRAPHSYNC_TOKEN_CACHE"
ENV_FILES_DIR = "GRAPHSYNC_FILES_DIR"
ENV_FILES_MAX_MB = "GRAPHSYNC_FILES_MAX_MB"
DEFAULT_FILES_MAX_MB = 25
AUTH_MODES = ("app", "delegated")
DEFAULT_TOKEN_CACHE = "~/.graphsync/token-cache.json"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line naming the variable."""


class Secret:
    """A string that only gives up its value when asked explicitly via `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time so comparing secrets does not leak their prefix through timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple:
        # Pickling would write the secret to disk/queues in clear; refuse instead.
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    client_secret: Secret | None
    token_url: str = DEFAULT_TOKEN_URL
    api_url: str = DEFAULT_API_URL
    ca_bundle: str | None = None
    db_path: str = DEFAULT_DB_PATH
    auth: str = "app"  # "app" (client credentials) or "delegated" (accounts signed in with `graphsync login`)
    token_cache: str = DEFAULT_TOKEN_CACHE  # delegated sign-ins (MSAL token cache); never holds the secret
    # Attachment content (opt-in): files of event_attachments are written under this folder, up to a size.
    files_dir: str | None = None
    files_max_bytes: int = DEFAULT_FILES_MAX_MB * 1024 * 1024

    @property
    def authority(self) -> str:
        """The MSAL authority: the token URL without `/oauth2/v2.0/token`."""
        return self.token_url[: -len(TOKEN_PATH_SUFFIX)]

    @property
    def scope(self) -> str:
        """`{origin of api_url}/.default`; for the real Graph this is https://graph.microsoft.com/.default."""
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}/.default"


def load_settings(
    env: Mapping[str, str] | None = None,
    dotenv_path: str | os.PathLike[str] | None = ".env",
    *,
    require_secret: bool = True,
) -> GraphSettings:
    """Build settings from `env` (default: os.environ) and the `.env` file; `env` wins.

    `GRAPH_AUTH` is `app` when a secret is set and `delegated` otherwise, unless given.
    `require_secret=False` is for callers that work in either mode (the CLI); with the default, a
    missing secret is an error unless GRAPH_AUTH=delegated.
    """
    values = _merged_sources(os.environ if env is None else env, dotenv_path)

    tenant_id = _required(values, ENV_TENANT_ID)
    if any(ch.isspace() or ch in "/?#" for ch in tenant_id):
        raise SettingsError(f"{ENV_TENANT_ID} must be a tenant id or domain, not a URL or path")
    client_id = _required(values, ENV_CLIENT_ID)
    auth = (values.get(ENV_AUTH) or "").strip().lower()
    if auth and auth not in AUTH_MODES:
        raise SettingsError(f"{ENV_AUTH} must be one of {', '.join(AUTH_MODES)}, not {values[ENV_AUTH]!r}")
    needs_secret = auth == "app" or (require_secret and auth != "delegated")
    secret_text = (_required(values, ENV_CLIENT_SECRET) if needs_secret
                   else (values.get(ENV_CLIENT_SECRET) or "").strip())
    auth = auth or ("app" if secret_text else "delegated")

    token_url = values.get(ENV_TOKEN_URL) or DEFAULT_TOKEN_URL.format(tenant=tenant_id)
    api_url = (values.get(ENV_API_URL) or DEFAULT_API_URL).rstrip("/")
    ca_bundle = values.get(ENV_CA_BUNDLE) or None
    _check_token_url(token_url)
    _check_api_url(api_url)
    if ca_bundle is not None:
        ca_bundle = _checked_ca_bundle(ca_bundle)

    return GraphSettings(
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=Secret(secret_text) if secret_text else None,
        token_url=token_url,
        api_url=api_url,
        ca_bundle=ca_bundle,
        db_path=values.get(ENV_DB) or DEFAULT_DB_PATH,
        auth=auth,
        token_cache=values.get(ENV_TOKEN_CACHE) or DEFAULT_TOKEN_CACHE,
        files_dir=values.get(ENV_FILES_DIR) or None,
        files_max_bytes=_megabytes(values.get(ENV_FILES_MAX_MB)),
    )


def command_settings(db: str | None = None) -> GraphSettings:
    """A command's settings: the environment and `.env`, with `--db` over GRAPHSYNC_DB. No secret
    is required: without one the command runs as the signed-in accounts (GRAPH_AUTH=delegated)."""
    env = dict(os.environ)
    if db:
        env[ENV_DB] = db
    return load_settings(env, require_secret=False)


def warehouse_path(db: str | None = None, dotenv_path: str | os.PathLike[str] | None = ".env") -> str:
    """The warehouse file alone (`--db`, GRAPHSYNC_DB, or the default), for commands that only read
    it: they need no tenant settings."""
    return db or _merged_sources(os.environ, dotenv_path).get(ENV_DB) or DEFAULT_DB_PATH


def _merged_sources(env: Mapping[str, str], dotenv_path: str | os.PathLike[str] | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        try:
            merged.update({k: v for k, v in dotenv_values(dotenv_path, encoding="utf-8").items() if v is not None})
        except UnicodeDecodeError:
            raise SettingsError(f"{dotenv_path} is not UTF-8 text (saved as UTF-16, or a binary file?); "
                                "write it as plain KEY=value lines in UTF-8") from None
        except OSError as exc:
            raise SettingsError(f"cannot read {dotenv_path}: {exc.strerror or exc}") from None
    merged.update(env)
    # Blank values count as unset, so `GRAPH_CLIENT_SECRET=` reports "missing" rather than passing.
    return {k: v.strip() for k, v in merged.items() if isinstance(v, str) and v.strip()}


def _megabytes(text: str | None) -> int:
    if not text:
        return DEFAULT_FILES_MAX_MB * 1024 * 1024
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise SettingsError(f"{ENV_FILES_MAX_MB} must be a number of megabytes, not {text!r}")
    return int(value * 1024 * 1024)


def _required(values: Mapping[str, str], name: str) -> str:
    value = values.get(name)
    if not value:
        raise SettingsError(f"{name} is not set (put it in the environment or in .env)")
    return value


def _check_token_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(f"{ENV_TOKEN_URL} must be an https:// URL, got {_shown_url(url)}")
    if not parts.path.endswith(TOKEN_PATH_SUFFIX) or parts.query or parts.fragment:
        raise SettingsError(f"{ENV_TOKEN_URL} must end with {TOKEN_PATH_SUFFIX}, got {_shown_url(url)}")
    if not _port_is_valid(url):
        raise SettingsError(f"{ENV_TOKEN_URL} has an invalid port: {_shown_url(url)}")
    if parts.path == TOKEN_PATH_SUFFIX:
        raise SettingsError(f"{ENV_TOKEN_URL} needs a tenant segment before {TOKEN_PATH_SUFFIX}")


def _check_api_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{ENV_API_URL} must be an http(s):// URL, got {_shown_url(url)}")
    if not _port_is_valid(url):
        raise SettingsError(f"{ENV_API_URL} has an invalid port: {_shown_url(url)}")


def _port_is_valid(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - urlsplit only validates the port when it is read
    except ValueError:
        return False
    return True


def _checked_ca_bundle(path_text: str) -> str:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise SettingsError(f"{ENV_CA_BUNDLE} file does not exist: {path}")
    try:  # a wrong file fails here with its name, not later inside a TLS handshake
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise SettingsError(f"{ENV_CA_BUNDLE} is not a PEM file of CA certificates: {path}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {ENV_CA_BUNDLE} {path}: {exc.strerror or exc}") from None
    return str(path)


def _shown_url(url: str) -> str:
    # Drop any query/userinfo: a misconfigured URL could carry credentials.
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":<invalid port>"
    shown = f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else parts.path
    return repr(shown[:200])
