"""Configuration: the example file is valid, and every bad key or value gets one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmware.config import ConfigError, load, parse

REPO = Path(__file__).resolve().parents[1]


def uncommented_example() -> str:
    lines = (REPO / "config.example.toml").read_text().splitlines()
    return "\n".join(
        line[2:] if (line.startswith("# ") and "=" in line) or line.startswith("# [") else line for line in lines
    )


def test_example_file_parses_with_every_key_uncommented(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(uncommented_example())
    config = load(path)
    assert config.http_port == 5358
    assert config.allow == ("192.168.1.0/24", "fd00::/8")
    assert config.overrides_for("genesys:libusb:001:004", None).default_resolution == 300
    assert config.overrides_for("other", "04A9:190F").friendly_name == "CanoScan LiDE 220"
    assert (config.eventing.max_subscriptions, config.eventing.delivery_timeout) == (64, 2.0)
    assert config.push_identifier_timeout == 60.0
    assert (config.max_connections, config.idle_timeout, config.body_timeout, config.max_page_mib) == (64, 60, 30, 128)
    buttons = config.overrides_for("genesys:libusb:001:004", None).buttons
    assert buttons == {"scan": "Scan", "email": "ScanToEmail", "button-1": "Scan to OFFICE-PC", "copy": ""}


@pytest.mark.parametrize(
    "document, words",
    [
        ({"http_prot": 80}, ["http_prot", "did you mean 'http_port'"]),
        ({"http_port": 0}, ["http_port", "1 to 65535"]),
        ({"formats": ["gif"]}, ["formats", "png, jfif"]),
        ({"allow": ["10.0.0.0/33"]}, ["allow", "CIDR"]),
        ({"job_timeout": "soon"}, ["job_timeout", "seconds"]),
        ({"scanners": {"test:0": {"resolution": 300}}}, ["scanners.test:0.resolution", "default_resolution"]),
        ({"eventing": {"max_subscribers": 3}}, ["eventing.max_subscribers", "did you mean 'max_subscriptions'"]),
        ({"eventing": {"delivery_timeout": 0}}, ["eventing.delivery_timeout", "seconds"]),
        ({"eventing": 5}, ["eventing", "table"]),
        ({"scanners": {"test:0": {"buttons": {"scan": 1}}}}, ["scanners.test:0.buttons", "destinations"]),
        ({"scanners": {"test:0": {"buttons": "Scan"}}}, ["scanners.test:0.buttons", '"" disables']),
        ({"push_identifier_timeout": -1}, ["push_identifier_timeout", "seconds"]),
        ({"max_connections": 2}, ["max_connections", "4 to 4096"]),
        ({"max_connections": True}, ["max_connections", "integer"]),
        ({"body_timeout": 0}, ["body_timeout", "seconds"]),
        ({"idle_timeout": "1m"}, ["idle_timeout", "seconds"]),
        ({"max_page_mib": 0}, ["max_page_mib", "1 to 65536"]),
    ],
)
def test_bad_keys_and_values_are_named(document, words):
    with pytest.raises(ConfigError) as info:
        parse(document)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_check_config_command(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("http_port = 8080\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 1\n")
    run = lambda path: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "firmware", "--check-config", "--config", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run(good).returncode == 0
    result = run(bad)
    assert result.returncode == 78  # EX_CONFIG: the unit's RestartPreventExitStatus=
    assert "unknown key 'colour'" in result.stderr


def test_eventing_table_sets_the_subscription_limits():
    config = parse({"eventing": {"max_expiration": 600, "max_per_client": 2, "max_failures": 5}})
    assert (config.eventing.max_expiration, config.eventing.max_per_client, config.eventing.max_failures) == (
        600.0,
        2,
        5,
    )
    assert config.eventing.max_subscriptions == 64  # the default where the table is silent


def test_streaming_settings_parse_and_the_spool_defaults_under_the_state_dir(tmp_path):
    from firmware.config import Config

    config = parse({"stall_timeout": 5, "spool_mib": 0, "cache_dir": str(tmp_path / "c")}, Config())
    assert (config.stall_timeout, config.spool_mib, config.spool_dir) == (5.0, 0, tmp_path / "c")
    assert Config(state_dir=tmp_path).spool_dir == tmp_path / "spool"
    for bad in ({"stall_timeout": 0}, {"spool_mib": -1}, {"cache_dir": 3}):
        with pytest.raises(ConfigError):
            parse(bad, Config())
