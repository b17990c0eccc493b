"""One place that decides which certificates the token and API connections trust."""

from __future__ import annotations

import ssl
from functools import lru_cache


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Trust exactly `ca_bundle` when given, else the operating system's trust store.

    We build the context ourselves rather than rely on environment variables:
    REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE are set globally on some machines and would silently
    replace an explicit choice in libraries that honour them.
    """
    return _cached_context(ca_bundle)


@lru_cache(maxsize=8)
def _cached_context(ca_bundle: str | None) -> ssl.SSLContext:
    # Loading a CA file costs milliseconds; the auth adapter and the API client share one.
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        # Some minimal images and python.org macOS builds ship no system store; fall back
        # to certifi (installed with httpx) rather than failing every handshake.
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    return context


def is_certificate_failure(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a TLS certificate verification failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
