"""The ``wsd-scan-server`` command.

    wsd-scan-server [--host H] [--port P] [--config FILE] [--state-dir DIR]
                    [--trace-soap] [--no-discovery] [--log-level LEVEL] [--check-config]

Serves every SANE scanner it finds (SANE_CONFIG_DIR is honoured), and those
plugged in later (:mod:`firmware.hotplug`), and logs one line per scan service
with the full URL a client configures (``scan service http://H:P/scanners/<slug> ...``).
SIGHUP reloads the configuration (:mod:`firmware.reload`) and enumerates SANE
again; a reload is done when "configuration reloaded" is logged. Logs go to
stderr, one line each, for journald. SIGINT/SIGTERM stop it cleanly.

This module parses the command line and loads the configuration only, so
``--check-config`` imports no Tornado; serving is :mod:`firmware.serve`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from .config import Config, ConfigError, load

EX_CONFIG = 78
"""Exit status for a configuration that does not load (sysexits.h EX_CONFIG); the systemd
unit lists it in RestartPreventExitStatus=, so a bad file is not retried every few seconds."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsd-scan-server", description="WS-Scan network scanner server over SANE")
    parser.add_argument("--host", help='address to listen on (default "": every address, IPv4 and IPv6)')
    parser.add_argument("--port", type=int, help="HTTP port (default 5358)")
    parser.add_argument(
        "--config", type=Path, help="TOML configuration file (default /etc/wsd-scan-server/config.toml)"
    )
    parser.add_argument("--state-dir", type=Path, help="directory for persistent state")
    parser.add_argument("--trace-soap", action="store_true", help="log every SOAP message in and out")
    parser.add_argument("--no-discovery", action="store_true", help="do not answer or send WS-Discovery messages")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status: :data:`EX_CONFIG` (78) for a
    configuration that does not load, 2 for a bad command line, 1 when the port cannot be bound."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        if not 0 < args.port < 65536:
            print("wsd-scan-server: --port must be 1..65535", file=sys.stderr)
            return 2
        overrides["http_port"] = args.port
    if args.state_dir:
        overrides["state_dir"] = args.state_dir.resolve()
    if args.trace_soap:
        overrides["trace_soap"] = True
    if args.no_discovery:
        overrides["discovery"] = False

    def load_config() -> Config:
        """The configuration file with the command line's overrides; raises ConfigError."""
        return dataclasses.replace(load(args.config), **overrides)

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"wsd-scan-server: configuration error: {exc}", file=sys.stderr)
        print(
            "wsd-scan-server: fix the file; check it with `wsd-scan-server --check-config --config FILE`",
            file=sys.stderr,
        )
        return EX_CONFIG
    if args.check_config:
        print("configuration OK")
        return 0
    if config.trace_soap:
        from .wire.handler import set_soap_tracing

        set_soap_tracing(True)
    from .serve import run  # Tornado, the app and SANE load only to serve, not for --check-config

    return run(config, load_config)
