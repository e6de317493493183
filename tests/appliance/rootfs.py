"""A Debian 12 root file system for boot tests: built once with debootstrap, cached, copied per run.

:func:`base_rootfs` returns a cached minimal Debian 12 ("bookworm") tree with
systemd and the project's dependencies, all Debian packages
(:data:`PACKAGES`). It lives in :func:`cache_dir` (``$WSD_SCAN_SERVER_TEST_CACHE``,
default ``/var/cache/wsd-scan-server-tests``) under a name keyed by a hash of
the package list, the suite and :data:`BUILDER_VERSION`, so a change to any of
them builds a new tree; a build goes into a temporary directory renamed into
place when complete, under a lock, and trees of other keys are removed
afterwards. The Debian mirror is the one this machine's apt uses
(:func:`apt_mirror`), else debootstrap's own default.

:func:`copy_rootfs` makes a private copy for one run, and
:func:`install_project` installs the project into it the way a package
would: the Python packages built and installed by the copy's own Debian pip
and setuptools (no dependency from anywhere else), ``/usr/bin/wsd-scan-server``,
the systemd unit (enabled), the sysusers.d entry and the udev rule.

Everything here needs root (debootstrap, ``cp -a`` of device nodes,
systemd-nspawn).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

SUITE = "bookworm"
"""Debian 12."""

BUILDER_VERSION = 1
"""Bump when the way the base tree is made changes, so cached trees are rebuilt."""

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "libsane1",
    "python3",
    "python3-tornado",
    "python3-defusedxml",
    "python3-sane",
    "python3-usb",
    "python3-pil",
    "python3-pip",
)
"""Debian packages on top of debootstrap's ``minbase`` variant: an init system,
libsane (with its ``test`` backend), the project's dependencies, and pip with
setuptools to install the project itself."""

CACHE_ENV = "WSD_SCAN_SERVER_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/wsd-scan-server-tests")
DEBOOTSTRAP_TIMEOUT = 1200.0
"""Seconds the first build may take (a few minutes from the network)."""

HOSTNAME = "wsd-scan-test"

# What a built wheel of the project needs from the repository.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_PACKAGES = ("firmware", "drivers")
SOURCE_IN_ROOT = Path("usr/src/wsd-scan-server")


class RootfsError(Exception):
    """Building the base tree or installing the project failed; the message carries the tool's output."""


def cache_dir() -> Path:
    """The cache directory: ``$WSD_SCAN_SERVER_TEST_CACHE`` or ``/var/cache/wsd-scan-server-tests``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def cache_key() -> str:
    """16 hex digits identifying the base tree's recipe (builder version, suite, variant, packages)."""
    recipe = f"{BUILDER_VERSION}\n{SUITE}\nminbase\n" + "\n".join(sorted(PACKAGES))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> str | None:
    """The Debian archive URI this machine's apt uses for :data:`SUITE`, or None.

    Looks at the deb822 ``sources.list.d/*.sources`` files first, then the
    one-line ``sources.list`` and ``sources.list.d/*.list``; only enabled
    ``deb`` entries over http(s) whose suite is exactly :data:`SUITE` count
    (not ``bookworm-updates`` or ``bookworm-security``, which are not whole
    archives). Never raises for unreadable or malformed files (they are skipped).
    """
    for path in sorted(etc_apt.glob("sources.list.d/*.sources")):
        for stanza in _deb822_stanzas(_read(path)):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split() or SUITE not in stanza.get("suites", "").split():
                continue
            for uri in stanza.get("uris", "").split():
                if uri.startswith(("http://", "https://")):
                    return uri
    one_line = [etc_apt / "sources.list", *sorted(etc_apt.glob("sources.list.d/*.list"))]
    for path in one_line:
        for line in _read(path).splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if (
                len(words) >= 3
                and words[0] == "deb"
                and words[2] == SUITE
                and words[1].startswith(("http://", "https://"))
            ):
                return words[1]
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    """Paragraphs of a deb822 file as ``{lower-case field: value}`` (continuation lines joined)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
        elif line[0].isspace() and last is not None:
            current[last] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            current[last] = value.strip()
    return stanzas


def base_rootfs() -> Path:
    """The cached base tree for :func:`cache_key`, built first if missing.

    Returns its directory (read it, copy it; never boot it). Raises
    :class:`RootfsError` when debootstrap fails or times out (the message
    ends with the tail of its log), ``OSError`` when the cache directory
    cannot be created.
    """
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"rootfs-{cache_key()}"
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others wait and reuse
        if not target.is_dir():
            _build(target)
            _prune(cache, keep=target)
    return target


def _build(target: Path) -> None:
    """debootstrap into a temporary sibling of ``target``, tidy it, rename it to ``target``."""
    work = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
    work.chmod(0o755)  # it becomes the container's "/": mkdtemp's 0700 would lock out every service user
    log = target.parent / f"{target.name}.log"
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(work)]
    mirror = apt_mirror()
    if mirror:
        command.append(mirror)
    try:
        with open(log, "w") as out:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT
            )
        if result.returncode != 0:
            raise RootfsError(f"{' '.join(command)} failed ({result.returncode}):\n{_tail(log)}")
        # What a Debian installer would leave: no downloaded .debs, a host name of its own.
        for deb in (work / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        (work / "etc/hostname").write_text(HOSTNAME + "\n")
        work.rename(target)
    except subprocess.TimeoutExpired:
        raise RootfsError(f"{' '.join(command)} took over {DEBOOTSTRAP_TIMEOUT:g} s:\n{_tail(log)}") from None
    finally:
        if work.exists():
            _remove_tree(work)


def _prune(cache: Path, keep: Path) -> None:
    """Remove base trees of other keys and leftovers of interrupted builds (caller holds the lock)."""
    for entry in cache.glob("rootfs-*"):
        if entry.name.startswith(keep.name):  # the tree itself and its build log
            continue
        if entry.is_dir() and not entry.is_symlink():
            _remove_tree(entry)
        else:
            entry.unlink(missing_ok=True)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(_read(log).splitlines()[-lines:])


def _remove_tree(path: Path) -> None:
    """``rm -rf`` that stays on ``path``'s file system (a tree may hold special files)."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False)


def copy_rootfs(base: Path, dest: Path) -> Path:
    """Copy the base tree to ``dest`` (must not exist) with ``cp -a``; returns ``dest``.

    Raises :class:`RootfsError` if the copy fails."""
    result = subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RootfsError(f"cp -a {base} {dest} failed: {result.stderr.strip()}")
    return dest


def remove_rootfs(root: Path) -> None:
    """Delete a copy made by :func:`copy_rootfs` (its container must have stopped). Never raises."""
    _remove_tree(root)


def install_project(root: Path, repo: Path) -> None:
    """Install the project from the repository ``repo`` into the tree ``root``, as a package would.

    * The source (``pyproject.toml``, ``README.md``, ``firmware/``,
      ``drivers/``) goes to ``/usr/src/wsd-scan-server`` and the tree's own
      pip (Debian's, with Debian's setuptools; no build isolation, no index,
      no dependencies) builds and installs it under ``/usr/local``, run in
      the tree by ``systemd-nspawn`` without network.
    * ``/usr/bin/wsd-scan-server`` links to that console script.
    * ``systemd/`` files: the unit in ``/usr/lib/systemd/system`` (enabled with
      ``systemctl --root``), the sysusers.d entry, the udev rule.

    Raises :class:`RootfsError` with the tools' output when a step fails.
    """
    source = root / SOURCE_IN_ROOT
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(repo / name, source / name)
    for name in PROJECT_PACKAGES:
        shutil.copytree(repo / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run_in_tree(
        root,
        "python3",
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--break-system-packages",
        "--root-user-action=ignore",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "/" + str(SOURCE_IN_ROOT),
    )
    script = root / "usr/local/bin/wsd-scan-server"
    if not script.is_file():
        raise RootfsError(f"pip installed no console script at /{script.relative_to(root)}")
    link = root / "usr/bin/wsd-scan-server"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("../local/bin/wsd-scan-server")

    units = repo / "systemd"
    _install_file(units / "wsd-scan-server.service", root / "usr/lib/systemd/system/wsd-scan-server.service")
    _install_file(units / "wsd-scan-server.sysusers", root / "usr/lib/sysusers.d/wsd-scan-server.conf")
    _install_file(units / "60-wsd-scan-server.rules", root / "usr/lib/udev/rules.d/60-wsd-scan-server.rules")
    result = subprocess.run(
        ["systemctl", f"--root={root}", "enable", "wsd-scan-server.service"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RootfsError(f"systemctl --root enable failed: {result.stderr.strip()}")


def _install_file(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    dest.chmod(0o644)


def _run_in_tree(root: Path, *argv: str, timeout: float = 300.0) -> str:
    """Run ``argv`` inside ``root`` (systemd-nspawn, no boot, no network); returns its output.

    Raises :class:`RootfsError` when it fails or times out."""
    command = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--private-network",
        "--link-journal=no",
        "--pipe",
        f"--directory={root}",
        "--",
        *argv,
    ]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RootfsError(f"{' '.join(argv)} in {root} took over {timeout:g} s") from None
    if result.returncode != 0:
        raise RootfsError(f"{' '.join(argv)} in {root} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout
