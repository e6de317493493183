"""The import layering of firmware/ and drivers/ (docs/architecture.md): dependencies point one way.

Every module's imports are read with ``ast``, function-level and TYPE_CHECKING
ones included, and resolved to module names; a module may import its own layer
or a lower one, never a higher one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "firmware.wire",
        "firmware.state",
        "firmware.notify",
        "firmware.naming",
    ),  # SOAP, addressing, MTOM; small utilities
    ("firmware.imaging",),  # band encoders: rows in, image file bytes out (nothing protocol-specific)
    ("firmware.model",),  # the typed WS-Scan model
    ("firmware.dpws",),  # discovery, metadata, identity
    ("firmware.eventing",),  # WS-Eventing: subscriptions, delivery
    ("drivers",),  # the scanner interface and its implementations
    ("firmware.jobs",),  # the job automaton, table and runs
    ("firmware.scan",),  # the eight operations, conditions, status, encoding, events
    (
        "firmware.pushscan",
        "firmware.escl",
    ),  # scan to PC: destinations, triggers, the CreateScanJob check (hooks into scan); eSCL
    (  # configuration, wiring, the command line; the status page (it reads the whole app)
        "firmware.config",
        "firmware.app",
        "firmware.web",
        "firmware.hotplug",
        "firmware.reload",
        "firmware.serve",
        "firmware.cli",
        "firmware.__main__",
        "firmware",
    ),
)


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of ``module`` (longest prefix wins), None for a third-party module."""
    matches = [
        (len(prefix), index)
        for index, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import in ``path``, at any depth; relative ones resolved.
    ``from X import name`` counts as importing ``X.name`` (which may be a module or a name in X)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (REPO / top).rglob("*.py"))


def violations(paths: list[Path], text: str | None = None) -> list[str]:
    """One line per import of a higher layer in ``paths`` (``text``: the source to use instead of the file's)."""
    found = []
    for path in paths:
        own = layer_of(module_name(path))
        assert own is not None, f"{path} is in no layer: add its package to LAYERS"
        for line, imported in imports_of(path, text):
            theirs = layer_of(imported)
            if theirs is not None and theirs > own:
                found.append(f"{path.relative_to(REPO)}:{line} imports {imported} (a higher layer)")
    return found


def test_every_layer_imports_only_its_own_or_lower_layers():
    assert violations(sources("firmware", "drivers")) == []


def test_firmware_jobs_imports_nothing_from_firmware_scan():
    bad = [
        f"{p.relative_to(REPO)}:{line} {name}"
        for p in sources("firmware/jobs")
        for line, name in imports_of(p)
        if name == "firmware.scan" or name.startswith("firmware.scan.")
    ]
    assert bad == []


def test_drivers_import_nothing_from_firmware():
    bad = [
        f"{p.relative_to(REPO)}:{line} {name}"
        for p in sources("drivers")
        for line, name in imports_of(p)
        if name == "firmware" or name.startswith("firmware.")
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("path", "bad_import", "reported"),
    [
        ("firmware/model/common.py", "from ..scan import service", "firmware.scan.service"),
        ("firmware/jobs/job.py", "import firmware.app", "firmware.app"),
        ("firmware/wire/xml.py", "from firmware.model.enums import JobState", "firmware.model.enums.JobState"),
    ],
)
def test_a_higher_import_is_caught(path, bad_import, reported):
    """The checker itself: an import of a higher layer, even inside a function, is reported."""
    module = REPO / path
    code = module.read_text() + f"\n\ndef _late():\n    {bad_import}\n"
    found = violations([module], code)
    assert len(found) == 1 and reported in found[0]


@pytest.mark.parametrize("module", ["firmware.config", "firmware.cli"])
def test_loading_the_configuration_imports_no_tornado(module):
    """``wsd-scan-server --check-config`` stays fast: the configuration and the command line load
    no Tornado, no Pillow and no service module."""
    probe = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tornado', 'PIL', 'sane')"
        " or m in ('firmware.app', 'firmware.scan.service', 'firmware.eventing.subscriptions')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
