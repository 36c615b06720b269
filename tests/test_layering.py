"""The rooms stay as designed: import-linter's contracts in pyproject.toml hold (layers, the runtime free of
dev/, no import circles), and no module of bigocr imports another module's private name."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import bigocr

PACKAGE = Path(bigocr.__file__).parent
ROOT = PACKAGE.parent


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def _private_imports(path: Path, module: str | None = None) -> list[str]:
    module = module or ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bigocr"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and node.module != module:
                    found.append(f"{module}: from {node.module} import {alias.name}")
    return found


def test_no_module_imports_another_modules_private_name():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _private_imports(path)]
    assert found == []


def test_the_private_name_check_finds_one(tmp_path):
    """The check above can fail: a module that takes a private name from another is found."""
    fake = tmp_path / "probe.py"
    fake.write_text("from bigocr.words.layout import connected as _c\nfrom bigocr.engine.job import _hidden\n")
    assert _private_imports(fake, "bigocr.probe") == ["bigocr.probe: from bigocr.engine.job import _hidden"]
