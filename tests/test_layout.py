"""The shape of the house: no private names across modules, library messages without
CLI flags, and imports that cost only what is used."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import consensus

PACKAGE = ROOT / "consensus"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """Absolute module name of a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(path: Path, source: str) -> list[str]:
    """Every ``from consensus... import`` in ``source`` that reaches a private name."""
    offences = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _resolve(path, node)
        if not target.startswith("consensus"):
            continue
        private_module = any(p.startswith("_") for p in target.split("."))
        private_names = [a.name for a in node.names
                         if a.name.startswith("_") and not a.name.endswith("__")]
        if private_module or private_names:
            offences.append(f"{path.relative_to(ROOT)}:{node.lineno} from {target} "
                            f"import {', '.join(a.name for a in node.names)}")
    return offences


def test_no_module_imports_another_modules_private_names():
    offences = [o for path in MODULES for o in private_imports(path, path.read_text())]
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("source", ["from ..models._em import x", "from .crossval import _f",
                                    "from consensus.data import _g"])
def test_the_private_import_check_can_fail(source):
    assert private_imports(PACKAGE / "quality" / "scoring.py", source)


def test_library_messages_name_parameters_not_command_line_flags():
    """Only cli/ may spell ``--flag``: a Python caller cannot pass one."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    offences = []
    for path in MODULES:
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings and flag.search(node.value)):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not offences, "\n".join(offences)


def test_every_public_name_resolves():
    for name in consensus.__all__:
        assert getattr(consensus, name) is not None, name
    with pytest.raises(AttributeError):
        consensus.no_such_name  # noqa: B018


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_importing_consensus_and_the_cli_loads_no_heavy_parts():
    heavy = {"pandas", "numpy", "scipy", "matplotlib", "statsmodels", "pyarrow",
             "consensus.agreement.statistics"}
    assert not heavy & _loaded_after("import consensus")
    assert not heavy & _loaded_after("import consensus.cli")


def test_using_the_default_model_does_not_load_agreement_or_plotting():
    loaded = _loaded_after("from consensus import aggregate")
    assert {"numpy", "pandas"} <= loaded
    assert not {"matplotlib", "statsmodels", "consensus.agreement.statistics"} & loaded
