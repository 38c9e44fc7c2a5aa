"""Configuration: precedence argument › SPANHIVE_* › HH_* › default, env never raises, arguments do."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest

import spanhive
from spanhive import _config
from spanhive._config import resolve


class Row(NamedTuple):
    setting: str
    argument: Any
    """``None``: the setting has no argument (env only)."""
    spanhive_env: tuple[str, str]
    hh_env: Optional[tuple[str, str]]
    expected: dict[str, Any]
    """Expected value per level: ``default``, ``hh``, ``spanhive``, ``argument``."""


ROWS = [
    Row("api_key", "arg-key", ("SPANHIVE_API_KEY", "sh-key"), ("HH_API_KEY", "hh-key"),
        {"default": None, "hh": "hh-key", "spanhive": "sh-key", "argument": "arg-key"}),
    Row("endpoint", "http://arg.example:1/", ("SPANHIVE_ENDPOINT", "https://sh.example"),
        ("HH_API_URL", "sqlite:///tmp/hh.db"),
        {"default": "sqlite-default", "hh": "sqlite:///tmp/hh.db", "spanhive": "https://sh.example",
         "argument": "http://arg.example:1"}),
    Row("project", "arg-proj", ("SPANHIVE_PROJECT", "sh-proj"), ("HH_PROJECT", "hh-proj"),
        {"default": None, "hh": "hh-proj", "spanhive": "sh-proj", "argument": "arg-proj"}),
    Row("source", "arg-src", ("SPANHIVE_SOURCE", "sh-src"), ("HH_SOURCE", "hh-src"),
        {"default": None, "hh": "hh-src", "spanhive": "sh-src", "argument": "arg-src"}),
    Row("session_name", "arg-name", ("SPANHIVE_SESSION_NAME", "sh-name"), ("HH_SESSION_NAME", "hh-name"),
        {"default": None, "hh": "hh-name", "spanhive": "sh-name", "argument": "arg-name"}),
    Row("timeout_s", 2.5, ("SPANHIVE_EXPORT_TIMEOUT_SECONDS", "7"), ("HH_EXPORT_TIMEOUT_SECONDS", "30"),
        {"default": 10.0, "hh": 30.0, "spanhive": 7.0, "argument": 2.5}),
    Row("compression", "none", ("SPANHIVE_COMPRESSION", "GZIP"), None,
        {"default": "gzip", "spanhive": "gzip", "argument": "none"}),
    Row("headers", {"X-Arg": "1"}, ("SPANHIVE_HEADERS", "x-env=a%20b,x-two=2"), None,
        {"default": {}, "spanhive": {"x-env": "a b", "x-two": "2"}, "argument": {"x-arg": "1"}}),
    Row("spool_dir", "/arg/spool", ("SPANHIVE_SPOOL_DIR", "/env/spool"), None,
        {"default": "state-default", "spanhive": Path("/env/spool"), "argument": Path("/arg/spool")}),
    Row("spool_max_bytes", 1024, ("SPANHIVE_SPOOL_MAX_BYTES", "2048"), None,
        {"default": 256 * 1024 * 1024, "spanhive": 2048, "argument": 1024}),
    Row("max_value_chars", 500, ("SPANHIVE_MAX_VALUE_CHARS", "900"), None,
        {"default": 1024 * 1024, "spanhive": 900, "argument": 500}),
    Row("disabled", None, ("SPANHIVE_DISABLED", "yes"), ("HH_DISABLE_TRACING", "true"),
        {"default": False, "hh": True, "spanhive": True}),
]  # fmt: skip

CASES = [
    pytest.param(row, level, id=f"{row.setting}-{level}")
    for row in ROWS
    for level in ("default", "hh", "spanhive", "argument")
    if level in row.expected
]


def _expected(value: Any, tmp_path: Path) -> Any:
    if value == "sqlite-default":
        return "sqlite:///" + str(tmp_path / "data" / "spanhive" / "spanhive.db").lstrip("/")
    if value == "state-default":  # one spool per destination: here the embedded store's
        return _config.default_spool_dir(_expected("sqlite-default", tmp_path))
    return value


@pytest.mark.parametrize(("row", "level"), CASES)
def test_configuration_precedence(row: Row, level: str, tmp_path: Path) -> None:
    """Each setting resolves argument › SPANHIVE_* › HH_* › default, and each level is actually read."""
    environ: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    if level in ("hh", "spanhive", "argument") and row.hh_env is not None:
        environ[row.hh_env[0]] = row.hh_env[1]
    if level in ("spanhive", "argument"):
        environ[row.spanhive_env[0]] = row.spanhive_env[1]
    if level == "argument":
        kwargs[row.setting] = row.argument
    settings = resolve(environ=environ, **kwargs)
    assert getattr(settings, row.setting) == _expected(row.expected[level], tmp_path)


def test_endpoint_defaults_to_the_api_when_a_key_is_set() -> None:
    """A key with no endpoint means the HoneyHive API; no key and no endpoint means the embedded store."""
    assert resolve(environ={"HH_API_KEY": "k"}).endpoint == "https://api.honeyhive.ai"
    assert resolve(environ={}).store_path is not None


def test_exporter_reads_the_environment(monkeypatch: pytest.MonkeyPatch, capture: Any) -> None:
    """The zero-argument constructor (what OTEL_TRACES_EXPORTER builds) takes its settings from env vars."""
    monkeypatch.setenv("SPANHIVE_ENDPOINT", capture.url)
    monkeypatch.setenv("HH_API_KEY", "from-hh")
    monkeypatch.setenv("SPANHIVE_EXPORT_TIMEOUT_SECONDS", "3")
    exporter = spanhive.SessionExporter()
    assert (exporter.settings.endpoint, exporter.settings.api_key, exporter.settings.timeout_s) == (
        capture.url,
        "from-hh",
        3.0,
    )


@pytest.mark.parametrize(
    ("environ", "setting", "fallback"),
    [
        pytest.param({"SPANHIVE_EXPORT_TIMEOUT_SECONDS": "ten"}, "timeout_s", 10.0, id="timeout-not-a-number"),
        pytest.param({"SPANHIVE_EXPORT_TIMEOUT_SECONDS": "-1"}, "timeout_s", 10.0, id="timeout-negative"),
        pytest.param({"SPANHIVE_EXPORT_TIMEOUT_SECONDS": "nan"}, "timeout_s", 10.0, id="timeout-nan"),
        pytest.param(
            {"SPANHIVE_EXPORT_TIMEOUT_SECONDS": "0", "HH_EXPORT_TIMEOUT_SECONDS": "4"},
            "timeout_s",
            4.0,
            id="timeout-falls-to-hh",
        ),
        pytest.param({"SPANHIVE_COMPRESSION": "brotli"}, "compression", "gzip", id="compression-unknown"),
        pytest.param({"SPANHIVE_SPOOL_MAX_BYTES": "1GB"}, "spool_max_bytes", 256 * 1024 * 1024, id="spool-cap"),
        pytest.param({"SPANHIVE_DISABLED": "maybe"}, "disabled", False, id="disabled-not-a-boolean"),
    ],
)
def test_bad_env_values_log_and_fall_back(
    environ: dict[str, str], setting: str, fallback: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad env value never raises: one warning names the variable, and the next source is used."""
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        settings = resolve(environ=environ)
    assert getattr(settings, setting) == fallback
    bad = next(iter(environ))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert bad in caplog.records[0].getMessage()


@pytest.mark.parametrize("value", ["ftp://host", "not a url", "sqlite://", "http://"])
def test_bad_env_endpoint_disables_instead_of_sending_elsewhere(
    value: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unusable endpoint from the environment disables the exporter, loudly, rather than guessing."""
    monkeypatch.setenv("SPANHIVE_ENDPOINT", value)
    with caplog.at_level(logging.ERROR, logger="spanhive"):
        exporter = spanhive.SessionExporter()
    assert exporter.settings.disabled
    assert "SPANHIVE_ENDPOINT" in caplog.text
    assert exporter.export([]) == spanhive.SessionExporter().export([])  # a no-op, not an error


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        pytest.param({"api_key": ""}, "api_key", id="empty-key"),
        pytest.param({"endpoint": "api.honeyhive.ai"}, "endpoint", id="endpoint-without-scheme"),
        pytest.param({"timeout_s": 0}, "timeout_s", id="timeout-zero"),
        pytest.param({"timeout_s": True}, "timeout_s", id="timeout-bool"),
        pytest.param({"timeout_s": float("inf")}, "timeout_s", id="timeout-inf"),
        pytest.param({"compression": "zstd"}, "compression", id="compression"),
        pytest.param({"headers": {"x": 1}}, "headers", id="header-value-not-str"),
        pytest.param({"headers": {"x": "a\r\nInjected: 1"}}, "headers", id="header-injection"),
        pytest.param({"headers": "x=1"}, "headers", id="headers-not-a-mapping-is-parsed"),
        pytest.param({"spool_max_bytes": -5}, "spool_max_bytes", id="spool-negative"),
        pytest.param({"spool_dir": 3}, "spool_dir", id="spool-dir-type"),
        pytest.param({"project": "  "}, "project", id="blank-project"),
        pytest.param({"http_session": object()}, "http_session", id="http-session-type"),
        pytest.param({"mask": "redact"}, "mask", id="mask-not-callable"),
        pytest.param({"max_value_chars": 0}, "max_value_chars", id="max-value-chars-zero"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, Any], named: str) -> None:
    """A bad argument in code fails at construction, naming the argument."""
    if named == "headers" and isinstance(kwargs["headers"], str):
        # a header string in code is accepted in the env format: the one lenient case, checked here
        assert spanhive.SessionExporter(**kwargs).settings.headers == {"x": "1"}
        return
    with pytest.raises(spanhive.ConfigError, match=named):
        spanhive.SessionExporter(**kwargs)


def test_spool_can_be_switched_off() -> None:
    """``off`` disables the spool from code and from the environment."""
    assert resolve(spool_dir="off").spool_dir is None
    assert resolve(environ={"SPANHIVE_SPOOL_DIR": "OFF"}).spool_dir is None


def test_sqlite_urls() -> None:
    """``sqlite:///abs/path`` names an absolute file; the default store lives in the per-user data dir."""
    assert _config.sqlite_path("sqlite:///var/lib/x.db") == Path("/var/lib/x.db")
    assert _config.sqlite_path("sqlite:///C:/x.db") == Path("C:/x.db")
    assert resolve(endpoint="sqlite:///tmp/a.db").store_path == Path("/tmp/a.db")


def test_masked_key_never_shows_the_whole_secret() -> None:
    assert _config.masked("hh_abcdefghijklmnop") == "hh_a…op"
    assert _config.masked("short") == "****"
    assert _config.masked(None) == "(none)"


def test_endpoint_credentials_are_never_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from spanhive import _cli, _config  # noqa: PLC0415 - only here

    url = "https://bob:hunter2@api.example.invalid/base?token=t0p5ecret&region=eu"
    assert _config.shown(url) == "https://REDACTED:REDACTED@api.example.invalid/base?token=REDACTED&region=eu"
    assert _config.shown("https://api.honeyhive.ai") == "https://api.honeyhive.ai"
    monkeypatch.setenv("SPANHIVE_ENDPOINT", "https://bob:hunter2@127.0.0.1:9/events/batch")
    with caplog.at_level("WARNING", logger="spanhive"):
        _cli.main(["doctor"])
    out = capsys.readouterr().out + caplog.text
    assert "hunter2" not in out
    assert "REDACTED:REDACTED@127.0.0.1:9" in out
