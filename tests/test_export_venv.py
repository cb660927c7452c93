"""The bundle on a machine without the app: a virtualenv with only the bundle's requirements.txt
(no torch, Django or Celery) runs predict.py and gives the app's answers on the team's photos.

The virtualenv is kept under var/ by the hash of the requirements, so only the first run pays
for the install (about a minute from the local registry); later runs take seconds."""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.bundles import app_probabilities, assert_same_answers, bundle_answers, shared_photo_files, train_fast

REPO = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO / "engine" / "bundle" / "requirements.txt"

pytestmark = pytest.mark.bundle_venv


def _bundle_venv() -> Path:
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    folder = REPO / "var" / f"bundle-venv-{key}"
    python = folder / "bin" / "python"
    if (folder / ".installed").is_file():
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder / ".installed").write_text("ok\n")
    return python


@pytest.fixture(scope="module")
def bundle_python():
    return _bundle_venv()


def test_the_bundle_needs_neither_torch_nor_the_app(bundle_python):
    code = "import importlib.util as u; print([m for m in ('torch', 'django', 'celery') if u.find_spec(m)])"
    result = subprocess.run([str(bundle_python), "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_in_a_fresh_virtualenv_the_bundle_answers_as_the_app(bundle_python, tmp_path):
    from engine.checkpoints import file_sha256
    from engine.export import bundle_write

    photos = shared_photo_files()
    weights = train_fast(tmp_path / "weights")
    bundle = bundle_write(checkpoint_file=weights, expected_sha256=file_sha256(weights), out_dir=tmp_path / "bundle",
                          about={})
    # Nothing of the repository on the path: only the bundle's folder and its own virtualenv.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    assert_same_answers(app_probabilities(weights, photos), bundle_answers(bundle_python, bundle, photos, env=env),
                        photos)
