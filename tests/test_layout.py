"""Imports run one way, dataset <- engine <- classifier <- worker, with the measurement tools
beside the app: checked on the source, so a stray import fails here before it tangles."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Which top-level packages each room may import (its own name always).
FORBIDDEN = {
    "dataset": {"engine", "classifier", "worker", "tools", "fmnistsite", "django", "celery", "torch"},
    "engine": {"classifier", "worker", "tools", "fmnistsite", "django", "celery"},
    "classifier": {"worker", "tools", "torch"},
    "tools": {"classifier", "worker", "fmnistsite", "django", "celery"},
}

# The tools that measure the app itself end to end on a throwaway database they set up:
# label_errors drives the app's services as a command would (import, training job, label issue
# job); gallery_load seeds its database with the app's models (bulk inserts) before the load.
ALLOWED = {"tools/label_errors.py": {"classifier", "worker", "django"},
           "tools/gallery_load.py": {"classifier", "django"}}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names (at any depth), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_nothing_above_it(room):
    wrong = [f"{path.relative_to(REPO)}:{line} imports {name}"
             for path in sorted((REPO / room).rglob("*.py")) if "migrations" not in path.parts
             for line, name in _imports(path) if name.split(".")[0] in FORBIDDEN[room]
             and name.split(".")[0] not in ALLOWED.get(str(path.relative_to(REPO)), set())]
    assert wrong == []


def test_importing_the_engine_builds_no_celery_app_and_configures_no_django():
    code = ("import sys, engine.training, engine.evaluation, engine.prediction, engine.checkpoints;"
            "print(sorted(m for m in ('django', 'celery', 'classifier', 'worker', 'fmnistsite') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
