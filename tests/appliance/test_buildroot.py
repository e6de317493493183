"""The Buildroot external tree (buildroot/) against a real Buildroot 2026.02.x checkout.

Set WSD_BUILDROOT_DIR to a Buildroot 2026.02.x tree (see buildroot/README.md).  Then,
offline and without building anything, for every committed defconfig:
``make O=<tmp> BR2_EXTERNAL=<repo>/buildroot <defconfig>`` prints no Kconfig warning,
every symbol the defconfig sets survives into .config, the appliance's essential
symbols are enabled, ``make savedefconfig`` reproduces the committed file byte for
byte, and ``make show-info`` evaluates every package makefile.  Every BR2_ symbol
our files name must exist in that Buildroot, and Buildroot's own linter
(utils/check-package) must accept our files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.appliance.paths import BUILDROOT_EXTERNAL

BUILDROOT_DIR = os.environ.get("WSD_BUILDROOT_DIR")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not BUILDROOT_DIR,
        reason="set WSD_BUILDROOT_DIR to a Buildroot 2026.02.x tree to run the Buildroot checks (git clone -b "
        "2026.02.3 https://gitlab.com/buildroot.org/buildroot.git; no download or build is done, about 1 minute)",
    ),
]

DEFCONFIGS = sorted(path.name for path in (BUILDROOT_EXTERNAL / "configs").glob("*_defconfig"))
EXPECTED_DEFCONFIGS = [
    "raspberrypi3_64_wsdscan_defconfig",
    "raspberrypi4_64_wsdscan_defconfig",
    "raspberrypizero2w_64_wsdscan_defconfig",
]
# What the appliance needs, whether a defconfig sets it or a `select` brings it in.
ESSENTIAL = [
    "BR2_INIT_SYSTEMD",
    "BR2_PACKAGE_SYSTEMD_NETWORKD",
    "BR2_PACKAGE_SYSTEMD_TIMESYNCD",
    "BR2_PACKAGE_SYSTEMD_HWDB",
    "BR2_PACKAGE_PYTHON3",
    "BR2_PACKAGE_PYTHON3_PYEXPAT",
    "BR2_PACKAGE_PYTHON_TORNADO",
    "BR2_PACKAGE_PYTHON_DEFUSEDXML",
    "BR2_PACKAGE_PYTHON_PILLOW",
    "BR2_PACKAGE_JPEG",
    "BR2_PACKAGE_PYTHON_PYUSB",
    "BR2_PACKAGE_PYTHON_PYUDEV",  # USB plug events (systemd provides udev)
    "BR2_PACKAGE_LIBUSB",
    "BR2_PACKAGE_SANE_BACKENDS",
    "BR2_PACKAGE_PYTHON_SANE",
    "BR2_PACKAGE_PYTHON_ZEROCONF",
    "BR2_PACKAGE_WSD_SCAN_SERVER",
    "BR2_PACKAGE_HOST_GENIMAGE",
    "BR2_PACKAGE_HOST_DOSFSTOOLS",
    "BR2_PACKAGE_HOST_MTOOLS",
]
OUR_PACKAGES = {
    "python-sane": {"sane-backends"},
    "wsd-scan-server": {"sane-backends"},
}


@pytest.fixture(scope="module")
def buildroot() -> Path:
    """The Buildroot tree, checked to be a 2026.02.x release."""
    tree = Path(BUILDROOT_DIR or "").resolve()
    makefile = tree / "Makefile"
    assert makefile.is_file(), f"WSD_BUILDROOT_DIR={tree} is not a Buildroot tree"
    version = re.search(r"^export BR2_VERSION := (\S+)", makefile.read_text(), re.M)
    assert version and version.group(1).startswith("2026.02"), f"Buildroot {version and version.group(1)}"
    return tree


def make(buildroot: Path, output: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run Buildroot's make with O=output; returns the finished process (not checked)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(buildroot), f"O={output}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def read_config(path: Path) -> dict[str, str]:
    """A Kconfig file as {symbol: value}; ``# X is not set`` becomes ``n``."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^(BR2_\w+)=(.*)$", line):
            values[match.group(1)] = match.group(2)
        elif match := re.match(r"^# (BR2_\w+) is not set$", line):
            values[match.group(1)] = "n"
    return values


@pytest.fixture(scope="module")
def configured(buildroot: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Each defconfig loaded into its own output directory: {name: (output dir, make's output)}."""
    result = {}
    for name in DEFCONFIGS:
        output = tmp_path_factory.mktemp(name)
        done = make(buildroot, output, f"BR2_EXTERNAL={BUILDROOT_EXTERNAL}", name)
        assert done.returncode == 0, done.stdout + done.stderr
        result[name] = (output, done.stdout + done.stderr)
    return result


def test_the_three_boards_have_defconfigs() -> None:
    """Raspberry Pi 3, 4 and Zero 2 W (all 64-bit)."""
    assert DEFCONFIGS == EXPECTED_DEFCONFIGS


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_defconfig_loads_without_warnings(name: str, configured: dict[str, tuple[Path, str]]) -> None:
    """No Kconfig warning (unknown symbol, invalid value, unmet dependency ...)."""
    _, log = configured[name]
    assert [line for line in log.splitlines() if "warning" in line.lower()] == []


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_every_requested_symbol_survives(name: str, configured: dict[str, tuple[Path, str]]) -> None:
    """Each line of the defconfig has the same value in the resulting .config."""
    output, _ = configured[name]
    requested = read_config(BUILDROOT_EXTERNAL / "configs" / name)
    resulting = read_config(output / ".config")
    lost = {
        symbol: (value, resulting.get(symbol)) for symbol, value in requested.items() if resulting.get(symbol) != value
    }
    assert lost == {}


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_appliance_essentials_are_enabled(name: str, configured: dict[str, tuple[Path, str]]) -> None:
    """systemd with networkd/timesyncd, Python and the service's libraries, libusb, sane-backends."""
    output, _ = configured[name]
    resulting = read_config(output / ".config")
    assert {symbol: resulting.get(symbol) for symbol in ESSENTIAL} == dict.fromkeys(ESSENTIAL, "y")


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_savedefconfig_reproduces_the_committed_file(
    name: str, buildroot: Path, configured: dict[str, tuple[Path, str]]
) -> None:
    """The committed defconfig is exactly what `make savedefconfig` writes (minimal, ordered)."""
    output, _ = configured[name]
    saved = output / "saved_defconfig"
    done = make(buildroot, output, f"BR2_DEFCONFIG={saved}", "savedefconfig")
    assert done.returncode == 0, done.stdout + done.stderr
    assert saved.read_text() == (BUILDROOT_EXTERNAL / "configs" / name).read_text()


@pytest.mark.parametrize("name", DEFCONFIGS)
def test_show_info_evaluates_every_package(name: str, buildroot: Path, configured: dict[str, tuple[Path, str]]) -> None:
    """`make show-info` succeeds and lists our packages with their dependencies."""
    output, _ = configured[name]
    done = make(buildroot, output, "show-info")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    for package, needs in OUR_PACKAGES.items():
        assert package in info, sorted(info)
        assert needs <= set(info[package]["dependencies"])
    assert info["python-sane"]["version"] == "2.9.2"
    assert info["python-sane"]["hashes"], "python-sane must be hash-checked"


def _symbols_named(path: Path) -> set[str]:
    """BR2_ symbols a Config.in or defconfig refers to (not BR2_EXTERNAL_* path variables)."""
    text = path.read_text()
    if path.name.endswith("defconfig"):
        return set(read_config(path))
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("help", "#")))
    return {symbol for symbol in re.findall(r"\bBR2_[A-Z0-9_]+\b", code) if not symbol.startswith("BR2_EXTERNAL")}


def test_every_symbol_we_name_exists(buildroot: Path) -> None:
    """Each BR2_ symbol in our Config.in files and defconfigs is defined by Buildroot or by us."""
    defined: set[str] = set()
    for kconfig in [*buildroot.rglob("Config.in*"), *BUILDROOT_EXTERNAL.rglob("Config.in*")]:
        if kconfig.is_file():
            defined |= set(re.findall(r"^\s*(?:menu)?config\s+(BR2_\w+)", kconfig.read_text(errors="replace"), re.M))
    ours = [*BUILDROOT_EXTERNAL.rglob("Config.in"), *(BUILDROOT_EXTERNAL / "configs").glob("*_defconfig")]
    unknown = {str(path.relative_to(BUILDROOT_EXTERNAL)): sorted(_symbols_named(path) - defined) for path in ours}
    assert {path: symbols for path, symbols in unknown.items() if symbols} == {}


def test_check_package_accepts_our_files(buildroot: Path) -> None:
    """Buildroot's linter (utils/check-package --br2-external) finds nothing to complain about."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import magic, flake8"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("utils/check-package needs python3-magic and flake8 (apt-get install python3-magic flake8)")
    files = sorted(str(path) for path in BUILDROOT_EXTERNAL.rglob("*") if path.is_file())
    done = subprocess.run(
        ["/usr/bin/python3", str(buildroot / "utils/check-package"), "--br2-external", *files],
        capture_output=True,
        text=True,
        cwd=BUILDROOT_EXTERNAL,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_local_package_copies_the_repository_without_tests(
    buildroot: Path, configured: dict[str, tuple[Path, str]]
) -> None:
    """`make wsd-scan-server-rsync` copies the sources and systemd/, not buildroot/ or tests/."""
    output, _ = configured[DEFCONFIGS[0]]
    done = make(buildroot, output, "wsd-scan-server-rsync")
    missing = [line for line in (done.stdout + done.stderr).splitlines() if "You must install" in line]
    if missing:
        pytest.skip(
            f"Buildroot's host dependency check wants a tool this machine lacks: {missing[0].strip()} (apt-get install it)"
        )
    assert done.returncode == 0, done.stdout + done.stderr
    (source,) = (output / "build").glob("wsd-scan-server-*")
    for present in (
        "pyproject.toml",
        "firmware",
        "drivers",
        "systemd/wsd-scan-server.service",
        "systemd/wsd-scan-server.sysusers",
        "systemd/60-wsd-scan-server.rules",
    ):
        assert (source / present).exists(), present
    for absent in ("buildroot", "tests", ".git"):
        assert not (source / absent).exists(), absent
