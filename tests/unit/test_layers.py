"""Layer rules (docs/architecture.md): every module imports with the forbidden layers absent.

core/ never imports Qt, torch or the upper layers; model/ never imports Qt, widgets, app, the
database (SQLAlchemy, core.store: it reads projects through core.services); widgets/ never
imports torch, SQLAlchemy, core.store / core.services, model or app. Inside core/ (ADR 0025) the
values (every module outside core/store and core/services) import neither SQLAlchemy nor the
store nor the services, and the store (core/store) never imports the services. Each package or
layer is imported in a fresh interpreter where a sys.meta_path finder makes the forbidden names
raise ImportError. Modules are discovered by walking the folders, so new files are covered at
once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QT = ["PySide6", "shiboken6", "pyqtgraph"]
BLOCKED = {
    "core": [*QT, "torch", "torchvision", "model", "widgets", "app"],
    "model": [*QT, "widgets", "app", "sqlalchemy", "core.store"],
    "widgets": ["torch", "torchvision", "sqlalchemy", "core.store", "core.services", "model", "app"],
}
# The three layers of core/ (ADR 0025): layer -> (its modules' prefix test, forbidden names).
CORE_UPPER = ("core.store", "core.services")
CORE_LAYERS = {
    "values": (lambda m: not m.startswith(CORE_UPPER), ["sqlalchemy", *CORE_UPPER]),
    "store": (lambda m: m.startswith("core.store"), ["core.services"]),
}

HARNESS = r"""
import importlib, importlib.abc, json, sys, traceback
blocked = tuple(json.loads(sys.argv[1]))
modules = json.loads(sys.argv[2])

class Forbidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"layer rule: {name!r} must not be imported from this package")
        return None

sys.meta_path.insert(0, Forbidden())
failures = {}
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException:
        failures[name] = traceback.format_exc(limit=6)
print(json.dumps(failures))
"""


def discover(package_dir: Path, base: Path) -> list[str]:
    """Dotted names of every module under ``package_dir`` (packages included)."""
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def import_all(modules: list[str], blocked: list[str], root: Path) -> dict[str, str]:
    """Import ``modules`` in a fresh interpreter with ``blocked`` unimportable; name -> traceback."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(root))
    res = subprocess.run(
        [sys.executable, "-c", HARNESS, json.dumps(blocked), json.dumps(modules)],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", sorted(BLOCKED))
def test_package_imports_without_forbidden_layers(package: str) -> None:
    modules = discover(REPO / package, REPO)
    assert package in modules  # the package itself is always checked
    failures = import_all(modules, BLOCKED[package], REPO)
    assert not failures, "\n".join(f"--- {m}\n{tb}" for m, tb in failures.items())


def test_harness_catches_a_violation(tmp_path: Path) -> None:
    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "clean.py").write_text("import json\n")
    (pkg / "sub" / "bad.py").write_text("def f():\n    pass\n\nimport PySide6.QtCore\n")
    (pkg / "lazy.py").write_text("def f():\n    import torch\n    return torch\n")
    modules = discover(pkg, tmp_path)
    assert sorted(modules) == [
        "fakepkg",
        "fakepkg.clean",
        "fakepkg.lazy",
        "fakepkg.sub",
        "fakepkg.sub.bad",
    ]
    failures = import_all(modules, ["PySide6", "torch"], tmp_path)
    assert list(failures) == ["fakepkg.sub.bad"]
    assert "layer rule: 'PySide6'" in failures["fakepkg.sub.bad"]


def _imported_names(path: Path) -> set[str]:
    """Every module an ``import`` statement of ``path`` names, at any depth (lazy imports in
    functions included, which importing the module does not execute)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(BLOCKED))
def test_no_function_level_import_crosses_a_layer(package: str) -> None:
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in _imported_names(path):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED[package]):
                bad.append(f"{path.relative_to(REPO)}: {name}")
    assert bad == []


def core_layer(layer: str) -> list[str]:
    member, _ = CORE_LAYERS[layer]
    return [m for m in discover(REPO / "core", REPO) if member(m)]


def test_core_layers_partition_core() -> None:
    values, store = core_layer("values"), core_layer("store")
    assert {"core.domain", "core.edits", "core.geometry", "core.maskcodec"} <= set(values)
    assert {"core.store.db", "core.store.edit_store", "core.store.project"} <= set(store)
    services = [m for m in discover(REPO / "core", REPO) if m.startswith("core.services")]
    assert {"core.services.importer", "core.services.training_data"} <= set(services)
    assert len(values) + len(store) + len(services) == len(discover(REPO / "core", REPO))


@pytest.mark.parametrize("layer", sorted(CORE_LAYERS))
def test_core_layer_imports_without_upper_layers(layer: str) -> None:
    blocked = CORE_LAYERS[layer][1]
    failures = import_all(core_layer(layer), blocked, REPO)
    assert not failures, "\n".join(f"--- {m}\n{tb}" for m, tb in failures.items())
    bad = []
    for name in core_layer(layer):
        path = REPO / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = REPO / name.replace(".", "/") / "__init__.py"
        for imported in _imported_names(path):
            if any(imported == b or imported.startswith(b + ".") for b in blocked):
                bad.append(f"{path.relative_to(REPO)}: {imported}")
    assert bad == []


def test_core_layer_harness_catches_a_value_importing_the_store(tmp_path: Path) -> None:
    """The rule is real: a value module reaching into the store fails in the fresh interpreter."""
    core = tmp_path / "core"
    (core / "store").mkdir(parents=True)
    (core / "__init__.py").write_text("")
    (core / "store" / "__init__.py").write_text("")
    (core / "store" / "db.py").write_text("X = 1\n")
    (core / "values_ok.py").write_text("import json\n")
    (core / "values_bad.py").write_text("from core.store import db\n")
    failures = import_all(["core.values_ok", "core.values_bad"], CORE_LAYERS["values"][1], tmp_path)
    assert list(failures) == ["core.values_bad"]
    assert "layer rule: 'core.store'" in failures["core.values_bad"]
