"""Configuration, resolved once into a frozen :class:`Settings`.

Precedence for every setting: argument in code › ``SPANHIVE_*`` env var › HoneyHive ``HH_*`` env var ›
default. A bad *argument* raises :class:`~spanhive.ConfigError` naming it; a bad *environment* value never
raises (the exporter may be built by ``opentelemetry-instrument``, where an exception would switch off all
instrumentation): it is logged once, naming the variable, and the next source in the precedence is used.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar
from urllib.parse import unquote, urlsplit

from opentelemetry.util.re import parse_env_headers

from spanhive import environment_variables as ev
from spanhive._records import DEFAULT_MAX_VALUE_CHARS, Mask
from spanhive.exceptions import ConfigError

_logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.honeyhive.ai"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRY_AFTER_S = 300.0  # a server asking for a longer pause is waited on for 5 minutes, then probed
DEFAULT_TRACE_HOLD_S = 10.0  # as spanhive._pipeline.hold.DEFAULT_MAX_AGE_S (config sits below the pipeline)
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024  # bytes
DEFAULT_MAX_REQUEST_BYTES = 5 * 1024 * 1024  # bytes of JSON per request, before compression
LOG_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
COMPRESSIONS = frozenset({"gzip", "none"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything the exporter needs to know, after precedence and validation."""

    endpoint: str
    """``http(s)://…`` base URL (no trailing slash) or ``sqlite:///…`` store URL."""
    api_key: Optional[str] = None
    project: Optional[str] = None
    """``None``: taken per span from ``service.name``, else ``default``."""
    source: Optional[str] = None
    """``None``: taken per span from ``deployment.environment``, else ``dev``."""
    session_name: Optional[str] = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S
    trace_hold_s: float = DEFAULT_TRACE_HOLD_S
    """How long a trace's spans wait for its local root (0: not at all)."""
    compression: str = "gzip"
    headers: Mapping[str, str] = field(default_factory=dict)
    spool_dir: Optional[Path] = None
    """``None`` when the spool is switched off."""
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    max_value_chars: int = DEFAULT_MAX_VALUE_CHARS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    flush_on_sigterm: bool = False
    log_level: Optional[int] = None
    quiet: bool = False
    """``SPANHIVE_QUIET``: no line on stderr saying where sessions go."""
    mask: Optional[Mask] = None
    """Called with each record before it leaves the process; returns the record to send."""
    capture_content: bool = True
    """``False``: inputs, outputs and chat content are withheld (their structure, tokens and timings kept)."""
    disabled: bool = False
    disabled_reason: str = ""

    @property
    def store_path(self) -> Optional[Path]:
        """The SQLite file when the endpoint is the embedded store (made absolute, so that a later ``chdir``
        cannot move it), else ``None``."""
        return sqlite_path(self.endpoint).absolute() if self.endpoint.startswith("sqlite:") else None


def user_dir(kind: str) -> Path:
    """Per-user ``data`` or ``state`` directory for spanhive, following each platform's convention."""
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "spanhive"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "spanhive"
    xdg, fallback = {"data": ("XDG_DATA_HOME", ".local/share"), "state": ("XDG_STATE_HOME", ".local/state")}[kind]
    base = os.environ.get(xdg)
    return Path(base if base and os.path.isabs(base) else home / fallback) / "spanhive"


def default_spool_dir(endpoint: str) -> Path:
    """``spool/<endpoint digest>`` in the per-user state directory: one spool per destination, so a request
    is only ever replayed to the endpoint it was meant for, whatever else runs on the machine."""
    digest = hashlib.sha256(endpoint.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return user_dir("state") / "spool" / digest


def default_store_url() -> str:
    return "sqlite:///" + str(user_dir("data") / "spanhive.db").lstrip("/")


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:`` URL names, by one rule (docs/configuration.md#sqlite-urls): after ``sqlite:``
    and an optional ``//``, a path starting with ``/`` is absolute (``sqlite:///var/x.db``, and SQLAlchemy's
    ``sqlite:////var/x.db``) unless what follows that slash starts with ``.`` or ``~``
    (``sqlite:///./x.db``, as SQLAlchemy writes relative paths); anything else is relative to the working
    directory (``sqlite:x.db``, ``sqlite://x.db``); ``~`` is the home directory; ``sqlite:///C:/x.db`` is
    ``C:/x.db``. A plain path (no ``sqlite:``) is that path."""
    if not url.startswith("sqlite:"):
        return Path(url).expanduser()
    rest = unquote(url[len("sqlite:") :])
    if rest.startswith("//"):
        rest = rest[2:]  # the empty authority of sqlite:///…, or the relative sqlite://x.db
    if rest.startswith("/") and (rest[1:2] in (".", "~", "/") or (len(rest) > 3 and rest[2] == ":")):
        rest = rest[1:]  # relative, home, SQLAlchemy's absolute ////, or a Windows drive letter
    return Path(rest).expanduser()


# --- parsers: each takes a raw value and returns the parsed one or raises ValueError(expected …) ---------


def _parse_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _parse_endpoint(value: Any) -> str:
    text = _parse_str(value)
    if text.startswith("sqlite:"):
        if not text[len("sqlite:") :].strip("/"):
            raise ValueError("expected sqlite:///absolute/path.db or sqlite:relative/path.db")
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s):// URL or a sqlite: URL (sqlite:///abs/file.db, sqlite:relative.db)")
    return text.rstrip("/")


_ROUTES = (
    "/opentelemetry/v1/traces", "/v1/traces", "/v1/events/batch", "/events/model/batch", "/events/batch",
    "/session/start", "/v1/events", "/events",
)  # fmt: skip
"""Routes of HoneyHive's API (and OTLP's) that spanhive adds to the endpoint itself."""


def _without_route(url: str, name: str) -> str:
    """The endpoint without a route spanhive adds itself (``…/events/batch`` would be posted to
    ``…/events/batch/events/batch``), with a warning naming the setting."""
    if url.startswith("sqlite:") or urlsplit(url).query:
        return url
    path = urlsplit(url).path
    for route in _ROUTES:
        if path.endswith(route):
            base = url[: -len(route)].rstrip("/")
            _logger.warning(
                "spanhive: %s=%r ends in %s, a route spanhive adds itself; using %s",
                name,
                shown(url),
                route,
                shown(base),
            )
            return base
    return url


def _parse_seconds(value: Any, zero: bool = False) -> float:
    """A finite number of seconds, greater than 0 (or 0 too, with ``zero``)."""
    expected = "expected a number of seconds, 0 or more" if zero else "expected a number of seconds greater than 0"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(expected) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(expected)
    if value < 0 or (value == 0 and not zero):
        raise ValueError(expected)
    return float(value)


def _parse_hold_seconds(value: Any) -> float:
    return _parse_seconds(value, zero=True)


def _positive_int(value: Any, unit: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a whole number of {unit} greater than 0")
    return value


def _parse_byte_count(value: Any) -> int:
    return _positive_int(value, "bytes")


def _parse_char_count(value: Any) -> int:
    return _positive_int(value, "characters")


def _parse_request_bytes(value: Any) -> int:
    count = _positive_int(value, "bytes")
    if count < 1024:
        raise ValueError("expected at least 1024 bytes")
    return count


def _parse_compression(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in COMPRESSIONS:
        raise ValueError("expected one of: " + ", ".join(sorted(COMPRESSIONS)))
    return str(text)


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected one of 1/true/yes/on or 0/false/no/off")


def _parse_headers(value: Any) -> Mapping[str, str]:
    if isinstance(value, str):
        return dict(parse_env_headers(value, liberal=True))
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of header names to values")
    headers = {}
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str) or not key.strip():
            raise ValueError("expected string header names and values")
        if any(c in key + val for c in "\r\n"):
            raise ValueError("header names and values may not contain line breaks")
        headers[key.strip().lower()] = val
    return headers


def _parse_log_level(value: Any) -> int:
    level = LOG_LEVELS.get(str(value).strip().lower())
    if level is None:
        raise ValueError("expected one of: " + ", ".join(LOG_LEVELS))
    return level


def _parse_mask(value: Any) -> Mask:
    if not callable(value):
        raise ValueError("expected a callable taking a record dict and returning the record to send")
    return value  # type: ignore[no-any-return]


def _parse_spool_dir(value: Any) -> Optional[Path]:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ValueError('expected a directory path, or "off"')
    return Path(value).expanduser()


# --- resolution --------------------------------------------------------------------------------------------


def _env(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name)
    return value if value is not None and value.strip() else None


def _resolve(
    name: str,
    argument: Any,
    env_names: tuple[str, ...],
    parse: Callable[[Any], T],
    environ: Mapping[str, str],
) -> Optional[T]:
    """The first valid source wins: the argument (raising if bad), then each env var (logging if bad)."""
    if argument is not None:
        try:
            return parse(argument)
        except ValueError as exc:
            raise ConfigError(f"{name}={argument!r} is invalid: {exc}") from None
    for env_name in env_names:
        raw = _env(environ, env_name)
        if raw is None:
            continue
        try:
            return parse(raw)
        except ValueError as exc:
            _logger.warning("spanhive: ignoring %s=%r: %s", env_name, raw, exc)
    return None


def resolve(
    *,
    api_key: Optional[str] = None,
    endpoint: Optional[str] = None,
    project: Optional[str] = None,
    source: Optional[str] = None,
    session_name: Optional[str] = None,
    timeout_s: Optional[float] = None,
    max_retry_after_s: Optional[float] = None,
    trace_hold_s: Optional[float] = None,
    compression: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    spool_dir: Optional[str | os.PathLike[str]] = None,
    spool_max_bytes: Optional[int] = None,
    max_value_chars: Optional[int] = None,
    max_request_bytes: Optional[int] = None,
    flush_on_sigterm: Optional[bool] = None,
    mask: Optional[Mask] = None,
    capture_content: Optional[bool] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Resolve every setting by precedence. Raises :class:`ConfigError` only for bad arguments."""
    env = os.environ if environ is None else environ

    def pick(name: str, arg: Any, envs: tuple[str, ...], parse: Callable[[Any], T]) -> Optional[T]:
        return _resolve(name, arg, envs, parse, env)

    disabled = bool(pick("disabled", None, (ev.SPANHIVE_DISABLED, ev.HH_DISABLE_TRACING), _parse_bool))
    reason = "disabled by " + _first_set(env, ev.SPANHIVE_DISABLED, ev.HH_DISABLE_TRACING) if disabled else ""

    key = pick("api_key", api_key, (ev.SPANHIVE_API_KEY, ev.HH_API_KEY), _parse_str)
    url = pick("endpoint", endpoint, (), _parse_endpoint)
    if url is not None:
        url = _without_route(url, "endpoint")
    else:
        for env_name in (ev.SPANHIVE_ENDPOINT, ev.HH_API_URL):
            raw = _env(env, env_name)
            if raw is None:
                continue
            try:
                url = _without_route(_parse_endpoint(raw), env_name)
            except ValueError as exc:
                # Falling back to another destination would send data somewhere the user did not ask for.
                _logger.error("spanhive: exporter disabled: %s=%r is invalid: %s", env_name, shown(raw), exc)
                disabled, reason = True, f"{env_name} is invalid"
                url = ""
            break
    if url is None:
        url = DEFAULT_API_URL if key else default_store_url()

    spool: Optional[Path] = default_spool_dir(url)
    if spool_dir is not None or _env(env, ev.SPANHIVE_SPOOL_DIR) is not None:
        spool = pick("spool_dir", spool_dir, (ev.SPANHIVE_SPOOL_DIR,), _parse_spool_dir)

    return Settings(
        endpoint=url,
        api_key=key,
        project=pick("project", project, (ev.SPANHIVE_PROJECT, ev.HH_PROJECT), _parse_str),
        source=pick("source", source, (ev.SPANHIVE_SOURCE, ev.HH_SOURCE), _parse_str),
        session_name=pick("session_name", session_name, (ev.SPANHIVE_SESSION_NAME, ev.HH_SESSION_NAME), _parse_str),
        timeout_s=_or(
            pick(
                "timeout_s",
                timeout_s,
                (ev.SPANHIVE_EXPORT_TIMEOUT_SECONDS, ev.HH_EXPORT_TIMEOUT_SECONDS),
                _parse_seconds,
            ),
            DEFAULT_TIMEOUT_S,
        ),
        max_retry_after_s=_or(
            pick("max_retry_after_s", max_retry_after_s, (ev.SPANHIVE_MAX_RETRY_AFTER_SECONDS,), _parse_seconds),
            DEFAULT_MAX_RETRY_AFTER_S,
        ),
        trace_hold_s=_or(
            pick("trace_hold_s", trace_hold_s, (ev.SPANHIVE_TRACE_HOLD_SECONDS,), _parse_hold_seconds),
            DEFAULT_TRACE_HOLD_S,
        ),
        compression=_or(pick("compression", compression, (ev.SPANHIVE_COMPRESSION,), _parse_compression), "gzip"),
        headers=_or(pick("headers", headers, (ev.SPANHIVE_HEADERS,), _parse_headers), {}),
        spool_dir=spool,
        spool_max_bytes=_or(
            pick("spool_max_bytes", spool_max_bytes, (ev.SPANHIVE_SPOOL_MAX_BYTES,), _parse_byte_count),
            DEFAULT_SPOOL_MAX_BYTES,
        ),
        max_value_chars=_or(
            pick("max_value_chars", max_value_chars, (ev.SPANHIVE_MAX_VALUE_CHARS,), _parse_char_count),
            DEFAULT_MAX_VALUE_CHARS,
        ),
        max_request_bytes=_or(
            pick("max_request_bytes", max_request_bytes, (ev.SPANHIVE_MAX_REQUEST_BYTES,), _parse_request_bytes),
            DEFAULT_MAX_REQUEST_BYTES,
        ),
        flush_on_sigterm=bool(pick("flush_on_sigterm", flush_on_sigterm, (ev.SPANHIVE_FLUSH_ON_SIGTERM,), _parse_bool)),
        log_level=pick("log_level", None, (ev.SPANHIVE_LOG_LEVEL,), _parse_log_level),
        quiet=bool(pick("quiet", None, (ev.SPANHIVE_QUIET,), _parse_bool)),
        mask=pick("mask", mask, (), _parse_mask),
        capture_content=_or(
            pick("capture_content", capture_content, (ev.SPANHIVE_CAPTURE_CONTENT,), _parse_bool), True
        ),
        disabled=disabled,
        disabled_reason=reason,
    )


def _or(value: Optional[T], default: T) -> T:
    return default if value is None else value


def _first_set(environ: Mapping[str, str], *names: str) -> str:
    return next((name for name in names if _env(environ, name) is not None), names[0])


_SECRET_QUERY = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "password", "secret", "client_secret", "sig",
     "signature", "x-amz-signature", "x-goog-signature", "awsaccesskeyid", "auth", "code"}
)  # fmt: skip


def shown(url: str) -> str:
    """``url`` as it may be printed or logged: without a user and password, and without the values of query
    parameters that carry credentials (OpenTelemetry's URL conventions)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{name}=REDACTED" if name.lower() in _SECRET_QUERY and sep else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    if netloc == parts.netloc and query == parts.query:
        return url
    return parts._replace(netloc=netloc, query=query).geturl()


def masked(secret: Optional[str]) -> str:
    """A key shown in logs and ``doctor``: enough to recognise it, never enough to use it."""
    if not secret:
        return "(none)"
    return secret[:4] + "…" + secret[-2:] if len(secret) > 10 else "****"
