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

:func:`copy_rootfs` makes a private copy for one run, :func:`build_package`
builds the project's Debian package (``scripts/build-deb``) and
:func:`install_package` installs it into the copy with ``apt-get install
./wsd-scan-server_*.deb``, as a user would: the unit (enabled), the
sysusers.d entry (the user created), the udev rules, the configuration.

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
    "python3-zeroconf",
    "python3-pyudev",
)
"""Debian packages on top of debootstrap's ``minbase`` variant: an init system,
libsane (with its ``test`` backend) and the project's package's dependencies, so
that ``apt-get install ./wsd-scan-server_*.deb`` needs no network (python3-pyudev
is only recommended by the package: with it, hotplug follows udev events)."""

CACHE_ENV = "WSD_SCAN_SERVER_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/wsd-scan-server-tests")
DEBOOTSTRAP_TIMEOUT = 1200.0
"""Seconds the first build may take (a few minutes from the network)."""

HOSTNAME = "wsd-scan-test"


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


def build_package(repo: Path, out: Path) -> Path:
    """Build the project's Debian package with ``scripts/build-deb`` (a clean copy of the
    files git tracks, ``dpkg-buildpackage -us -uc -b``) into the directory ``out``.

    Returns the ``.deb``'s path. Raises :class:`RootfsError` with the script's output when
    the build fails or takes over 10 minutes."""
    try:
        result = subprocess.run(
            [str(repo / "scripts/build-deb"), str(out)], capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired:
        raise RootfsError("scripts/build-deb took over 600 s") from None
    debs = sorted(out.glob("wsd-scan-server_*_all.deb"))
    if result.returncode != 0 or len(debs) != 1:
        raise RootfsError(f"scripts/build-deb failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return debs[0]


def install_package(root: Path, deb: Path) -> str:
    """Install the package file ``deb`` into the tree ``root`` with ``apt-get install ./...``,
    run in the tree (systemd-nspawn, no boot, no network), as an administrator would.

    Every dependency is in the base tree (:data:`PACKAGES`), so apt downloads nothing;
    Recommends are left out (``sane-utils`` is not in the base tree). The package's
    postinst creates the user (sysusers.d) and enables the unit; it starts at boot.
    The copy of ``deb`` in the tree is removed afterwards. Returns apt's output;
    raises :class:`RootfsError` with it when apt fails."""
    inside = Path("/root") / deb.name
    shutil.copyfile(deb, root / inside.relative_to("/"))
    try:
        return _run_in_tree(
            root,
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            str(inside),
        )
    finally:
        (root / inside.relative_to("/")).unlink(missing_ok=True)


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
