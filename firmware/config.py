"""Configuration: one TOML file (default ``/etc/wsd-scan-server/config.toml``), read with tomllib.

Every key is declared once in :data:`KEYS` / :data:`SCANNER_KEYS` with its type
and check; an unknown key or a bad value raises :class:`ConfigError` whose
message is one line naming the key and the accepted values. Command-line
options override the file. ``config.example.toml`` in the repository documents
every key.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .eventing.settings import EventingSettings
from .scan.formats import SUPPORTED_FORMATS as FORMATS

DEFAULT_CONFIG_PATH = Path("/etc/wsd-scan-server/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/wsd-scan-server")
DEFAULT_PORT = 5358


class ConfigError(ValueError):
    """A configuration problem; ``str()`` is one line naming the key and the accepted values."""


@dataclass(frozen=True)
class ScannerOverrides:
    """Per-scanner settings, matched by SANE device name or USB ``vvvv:pppp``.

    ``sane_options`` are SANE option values set when the device is opened
    (python-sane names, e.g. ``{"test_picture": "Color pattern"}``). ``buttons``
    maps scanner buttons (SANE sensor names: ``scan``, ``email``, ``button-1``...)
    to scan-to-PC destinations (a ClientContext such as ``ScanToEmail`` or a
    ClientDisplayName such as ``Scan to MYPC``; "" disables the button), on top
    of :data:`firmware.pushscan.DEFAULT_BUTTONS`. ``wsd`` / ``escl``: serve the scanner over
    WS-Scan (WSD) / eSCL (AirScan); both by default.
    """

    friendly_name: str | None = None
    disabled: bool = False
    default_resolution: int | None = None
    sane_options: dict[str, Any] = field(default_factory=dict)
    buttons: dict[str, str] = field(default_factory=dict)
    wsd: bool = True
    escl: bool = True


@dataclass(frozen=True)
class Config:
    """The service configuration. Times in seconds, sizes in entries.

    Limits (issue 12): ``max_connections`` HTTP connections open at once (idle ones are
    closed first, :mod:`firmware.wire.server`); ``idle_timeout`` seconds a connection may
    wait for a request's headers; ``body_timeout`` seconds for a request's whole body;
    ``max_page_mib`` MiB a scanned side's raw image may take (8-bit samples), larger
    tickets are refused before scanning (:func:`firmware.scan.ticket.check_page_memory`);
    ``stall_timeout`` seconds an image transfer (RetrieveImage, eSCL NextDocument) waits for a
    client that stopped reading before it is broken off, the job ended and the scanner freed.
    ``cache_dir``: where the spool keeps the side being sent, so a RetrieveImage broken mid-page
    can be retried (None: ``<state_dir>/spool``); ``spool_mib`` caps it in MiB (0: no spool, a
    broken transfer aborts the job), see :mod:`firmware.scan.spool`.
    """

    @property
    def spool_dir(self) -> Path:
        """The spool directory: ``cache_dir``, else ``<state_dir>/spool``."""
        return self.cache_dir if self.cache_dir is not None else self.state_dir / "spool"

    host: str = ""  # every address, IPv4 and IPv6
    http_port: int = DEFAULT_PORT
    friendly_name: str | None = None
    interfaces: tuple[str, ...] = ()
    formats: tuple[str, ...] = FORMATS
    jpeg_quality: int = 85
    job_timeout: float = 60.0
    worker_timeout: float = 10.0
    history_size: int = 50
    allow: tuple[str, ...] = ()
    state_dir: Path = DEFAULT_STATE_DIR
    trace_soap: bool = False
    discovery: bool = True
    dnssd: bool = True
    push_identifier_timeout: float = 60.0
    max_connections: int = 64
    idle_timeout: float = 60.0
    body_timeout: float = 30.0
    max_page_mib: int = 128
    stall_timeout: float = 60.0
    cache_dir: Path | None = None
    spool_mib: int = 256
    eventing: EventingSettings = EventingSettings()
    scanners: dict[str, ScannerOverrides] = field(default_factory=dict)

    def overrides_for(self, sane_name: str, usb_id: str | None) -> ScannerOverrides:
        """The overrides of the scanner with SANE name ``sane_name`` / USB id ``usb_id`` (else defaults)."""
        if sane_name in self.scanners:
            return self.scanners[sane_name]
        if usb_id and usb_id.lower() in self.scanners:
            return self.scanners[usb_id.lower()]
        return ScannerOverrides()


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{key} = {value!r}: expected an integer from {low} to {high}")
        return value

    return check


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise ConfigError(f"{key} = {value!r}: expected a number of seconds from 0 (excluded) to 86400")
    return float(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 255:
        raise ConfigError(f"{key} = {value!r}: expected a string of 1 to 255 characters")
    return value


def _host(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise ConfigError(f'{key} = {value!r}: expected an IP address, or "" for every address (IPv4 and IPv6)')
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} = {value!r}: expected true or false")
    return value


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} = {value!r}: expected a list of strings")
    return tuple(value)


def _formats(key: str, value: Any) -> tuple[str, ...]:
    formats = _strings(key, value)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"{key} = {value!r}: expected a non-empty list of {', '.join(FORMATS)}")
    return formats


def _cidrs(key: str, value: Any) -> tuple[str, ...]:
    cidrs = _strings(key, value)
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"{key}: {cidr!r} is not a CIDR network such as 192.168.1.0/24 or fd00::/8") from None
    return cidrs


def _path(key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{key} = {value!r}: expected an absolute path")
    return Path(value)


def _sane_options(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise ConfigError(f"{key} = {value!r}: expected a table of SANE option names to strings, numbers or booleans")
    return {name.replace("-", "_"): v for name, v in value.items()}


def _buttons(key: str, value: Any) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or not all(isinstance(v, str) and len(v) <= 255 for v in value.values())
        or not all(0 < len(k) <= 64 for k in value)
    ):
        raise ConfigError(
            f'{key} = {value!r}: expected a table of button names to destinations, e.g. {{ scan = "Scan", '
            'email = "ScanToEmail" }} ("" disables a button)'
        )
    return dict(value)


KEYS: dict[str, Callable[[str, Any], Any]] = {
    "host": _host,
    "http_port": _int_in(1, 65535),
    "friendly_name": _string,
    "interfaces": _strings,
    "formats": _formats,
    "jpeg_quality": _int_in(1, 100),
    "job_timeout": _seconds,
    "worker_timeout": _seconds,
    "history_size": _int_in(1, 10000),
    "allow": _cidrs,
    "state_dir": _path,
    "trace_soap": _bool,
    "discovery": _bool,
    "dnssd": _bool,
    "push_identifier_timeout": _seconds,
    "max_connections": _int_in(4, 4096),
    "idle_timeout": _seconds,
    "body_timeout": _seconds,
    "max_page_mib": _int_in(1, 65536),
    "stall_timeout": _seconds,
    "cache_dir": _path,
    "spool_mib": _int_in(0, 65536),
}

SCANNER_KEYS: dict[str, Callable[[str, Any], Any]] = {
    "friendly_name": _string,
    "disabled": _bool,
    "default_resolution": _int_in(1, 19200),
    "sane_options": _sane_options,
    "buttons": _buttons,
    "wsd": _bool,
    "escl": _bool,
}


EVENTING_KEYS: dict[str, Callable[[str, Any], Any]] = {
    "max_expiration": _seconds,
    "max_subscriptions": _int_in(1, 4096),
    "max_per_client": _int_in(1, 4096),
    "delivery_timeout": _seconds,
    "max_failures": _int_in(1, 100),
    "sink_networks": _cidrs,
}
"""The ``[eventing]`` table: fields of :class:`~firmware.eventing.settings.EventingSettings`."""


def _eventing(value: Any) -> EventingSettings:
    if not isinstance(value, dict):
        raise ConfigError("eventing: expected a table such as [eventing]")
    fields = {}
    for key, item in value.items():
        if key not in EVENTING_KEYS:
            raise _unknown(f"eventing.{key}", EVENTING_KEYS)
        fields[key] = EVENTING_KEYS[key](f"eventing.{key}", item)
    return EventingSettings(**fields)


def _unknown(key: str, known: dict) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {key!r}{hint}; accepted keys: {', '.join(sorted(known))}")


def parse(data: dict[str, Any], base: Config | None = None) -> Config:
    """Validate a parsed TOML document and return the :class:`Config`. Raises :class:`ConfigError`."""
    values: dict[str, Any] = {}
    scanners: dict[str, ScannerOverrides] = {}
    for key, value in data.items():
        if key == "scanners":
            if not isinstance(value, dict):
                raise ConfigError('scanners: expected tables such as [scanners."test:0"]')
            for name, table in value.items():
                if not isinstance(table, dict):
                    raise ConfigError(f"scanners.{name}: expected a table")
                fields = {}
                for skey, svalue in table.items():
                    if skey not in SCANNER_KEYS:
                        raise _unknown(f"scanners.{name}.{skey}", SCANNER_KEYS)
                    fields[skey] = SCANNER_KEYS[skey](f"scanners.{name}.{skey}", svalue)
                scanners[name.lower() if _is_usb_id(name) else name] = ScannerOverrides(**fields)
        elif key == "eventing":
            values[key] = _eventing(value)
        elif key in KEYS:
            values[key] = KEYS[key](key, value)
        else:
            raise _unknown(key, {**KEYS, "eventing": None, "scanners": None})
    base = base or Config()
    merged = {**base.__dict__, **values}
    if scanners:
        merged["scanners"] = scanners
    return Config(**merged)


def _is_usb_id(name: str) -> bool:
    parts = name.split(":")
    return len(parts) == 2 and all(len(p) == 4 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)


def load(path: Path | None) -> Config:
    """Read the TOML file at ``path`` (None: the default path if it exists, else defaults).

    Raises :class:`ConfigError` for a missing explicit file, TOML syntax errors and bad keys.
    """
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return default_config()
        path = DEFAULT_CONFIG_PATH
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, default_config())


def default_config() -> Config:
    """Defaults; the state directory falls back to ``~/.local/state/wsd-scan-server`` when not root."""
    if os.geteuid() != 0:
        return Config(state_dir=Path.home() / ".local" / "state" / "wsd-scan-server")
    return Config()
