import pickle
from pathlib import Path

import pytest

from connectors.settings import GraphSettings, Secret, SettingsError, load_settings

SECRET = "s3cr3t-Value~with.chars"
BASE_ENV = {
    "GRAPH_TENANT_ID": "contoso.onmicrosoft.com",
    "GRAPH_CLIENT_ID": "app-1",
    "GRAPH_CLIENT_SECRET": SECRET,
}


def load(env: dict[str, str], tmp_path: Path, dotenv: str | None = None) -> GraphSettings:
    path = tmp_path / ".env"
    if dotenv is not None:
        path.write_text(dotenv)
    return load_settings(env, dotenv_path=path)


def test_defaults_follow_the_interface(tmp_path):
    settings = load(BASE_ENV, tmp_path)
    assert settings.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert settings.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert settings.api_url == "https://graph.microsoft.com/v1.0"
    assert settings.scope == "https://graph.microsoft.com/.default"
    assert settings.db_path == "./graphsync.duckdb"
    assert settings.ca_bundle is None
    assert settings.client_secret is not None and settings.client_secret.reveal() == SECRET


def test_simulator_style_urls_give_matching_authority_and_scope(tmp_path):
    import trustme

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    env = BASE_ENV | {
        "GRAPH_TOKEN_URL": "https://127.0.0.1:8443/tenant1/oauth2/v2.0/token",
        "GRAPH_API_URL": "https://127.0.0.1:8443/v1.0/",
        "GRAPH_CA_BUNDLE": str(ca),
        "GRAPHSYNC_DB": "/tmp/x.duckdb",
    }
    settings = load(env, tmp_path)
    assert settings.authority == "https://127.0.0.1:8443/tenant1"
    assert settings.api_url == "https://127.0.0.1:8443/v1.0"
    assert settings.scope == "https://127.0.0.1:8443/.default"
    assert settings.ca_bundle == str(ca)
    assert settings.db_path == "/tmp/x.duckdb"


def test_environment_wins_over_dotenv_and_dotenv_fills_gaps(tmp_path):
    dotenv = "GRAPH_TENANT_ID=from-file\nGRAPH_CLIENT_ID=file-client\nGRAPH_CLIENT_SECRET=file-secret\n"
    settings = load({"GRAPH_TENANT_ID": "from-env"}, tmp_path, dotenv)
    assert settings.tenant_id == "from-env"
    assert settings.client_id == "file-client"
    assert settings.client_secret == Secret("file-secret")


def test_missing_dotenv_file_is_fine(tmp_path):
    settings = load_settings(BASE_ENV, dotenv_path=tmp_path / "nope.env")
    assert settings.client_id == "app-1"


@pytest.mark.parametrize("name", ["GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET"])
def test_each_required_variable_is_named_when_missing(tmp_path, name):
    env = {k: v for k, v in BASE_ENV.items() if k != name}
    with pytest.raises(SettingsError) as caught:
        load(env, tmp_path)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_blank_value_counts_as_missing(tmp_path):
    with pytest.raises(SettingsError, match="GRAPH_CLIENT_SECRET"):
        load(BASE_ENV | {"GRAPH_CLIENT_SECRET": "  "}, tmp_path)


def test_secret_is_optional_for_delegated_auth(tmp_path):
    env = {k: v for k, v in BASE_ENV.items() if k != "GRAPH_CLIENT_SECRET"}
    assert load_settings(env, dotenv_path=None, require_secret=False).client_secret is None


@pytest.mark.parametrize(
    "url",
    [
        "http://login.example.com/t/oauth2/v2.0/token",
        "https://login.example.com/t/oauth2/token",
        "https://login.example.com/t/oauth2/v2.0/token?x=1",
        "https://login.example.com/oauth2/v2.0/token",
        "login.example.com/t/oauth2/v2.0/token",
    ],
)
def test_bad_token_url_is_rejected_naming_the_variable(tmp_path, url):
    with pytest.raises(SettingsError, match="GRAPH_TOKEN_URL"):
        load(BASE_ENV | {"GRAPH_TOKEN_URL": url}, tmp_path)


@pytest.mark.parametrize(
    "url", ["ftp://graph.example.com/v1.0", "graph.microsoft.com/v1.0", "https://:99/v1.0"]
)
def test_bad_api_url_is_rejected_naming_the_variable(tmp_path, url):
    with pytest.raises(SettingsError, match="GRAPH_API_URL"):
        load(BASE_ENV | {"GRAPH_API_URL": url}, tmp_path)


def test_plain_http_api_url_is_allowed(tmp_path):
    assert load(BASE_ENV | {"GRAPH_API_URL": "http://127.0.0.1:9000/v1.0"}, tmp_path).scope == (
        "http://127.0.0.1:9000/.default"
    )


def test_missing_ca_bundle_file_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="GRAPH_CA_BUNDLE") as caught:
        load(BASE_ENV | {"GRAPH_CA_BUNDLE": str(tmp_path / "missing.pem")}, tmp_path)
    assert "missing.pem" in str(caught.value)


def test_tenant_that_looks_like_a_url_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="GRAPH_TENANT_ID"):
        load(BASE_ENV | {"GRAPH_TENANT_ID": "https://login.microsoftonline.com/x"}, tmp_path)


def test_secret_never_appears_in_repr_str_or_errors(tmp_path):
    settings = load(BASE_ENV, tmp_path)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "Secret('***')" in repr(settings)
    with pytest.raises(SettingsError) as caught:
        load(
            BASE_ENV | {"GRAPH_TOKEN_URL": f"http://user:{SECRET}@host/t/oauth2/v2.0/token?s={SECRET}"},
            tmp_path,
        )
    assert SECRET not in str(caught.value)


def test_secret_type_hides_its_value():
    secret = Secret("abc")
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert secret == Secret("abc") and secret != Secret("abd")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_settings_are_frozen(tmp_path):
    settings = load(BASE_ENV, tmp_path)
    with pytest.raises(AttributeError):
        settings.api_url = "https://elsewhere"  # type: ignore[misc]


def test_a_ca_bundle_that_is_not_pem_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.der"
    bundle.write_bytes(b"\x30\x82\x01\x0a not a certificate")
    with pytest.raises(SettingsError, match="GRAPH_CA_BUNDLE is not a PEM file"):
        load_settings(BASE_ENV | {"GRAPH_CA_BUNDLE": str(bundle)}, dotenv_path=None)


@pytest.mark.parametrize("content", ["GRAPH_TENANT_ID=x\n".encode("utf-16"), bytes(range(256))])
def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path, content: bytes) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(content)
    with pytest.raises(SettingsError, match="not UTF-8 text"):
        load_settings({}, dotenv_path=dotenv)
