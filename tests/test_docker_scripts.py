"""The image's scripts, run directly (no Docker engine here): the entrypoint's secret key,
generated once and kept, and the `migrate` step's first start (bucket, staff user)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.s3_server import BUCKET, start_s3_server

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = str(ROOT / "scripts" / "docker-entrypoint.sh")
PRINT_KEY = ["sh", "-c", 'printf %s "$SECRET_KEY"']


def _in_container(command: list[str], **env: str) -> subprocess.CompletedProcess:
    """As the container runs it: the entrypoint, then the command, in the image's working folder."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])  # `python` is the image's
    return subprocess.run([ENTRYPOINT, *command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PATH": path, "HOME": str(ROOT), "LOCAL_SETTINGS_FILE": "", **env})


def test_without_a_secret_key_one_is_generated_once_and_kept(tmp_path):
    key_file = tmp_path / "secret" / "secret_key"
    first = _in_container(PRINT_KEY, SECRET_KEY_FILE=str(key_file))
    assert first.returncode == 0, first.stderr
    assert len(first.stdout) >= 50 and key_file.read_text().strip() == first.stdout
    assert "Generated a SECRET_KEY" in first.stderr
    assert key_file.stat().st_mode & 0o077 == 0
    again = _in_container(PRINT_KEY, SECRET_KEY_FILE=str(key_file), SECRET_KEY="")  # compose's empty default
    assert again.stdout == first.stdout and "Generated" not in again.stderr


def test_a_secret_key_given_is_used_and_nothing_is_written(tmp_path):
    key_file = tmp_path / "secret" / "secret_key"
    given = _in_container(PRINT_KEY, SECRET_KEY_FILE=str(key_file), SECRET_KEY="chosen-by-the-operator")
    assert given.stdout == "chosen-by-the-operator" and not key_file.exists()


def test_containers_starting_together_agree_on_one_key(tmp_path):
    key_file = tmp_path / "secret" / "secret_key"
    with ThreadPoolExecutor(max_workers=6) as pool:
        keys = set(pool.map(lambda _: _in_container(PRINT_KEY, SECRET_KEY_FILE=str(key_file)).stdout, range(6)))
    assert len(keys) == 1 and keys == {key_file.read_text().strip()}


@pytest.fixture
def s3_without_a_bucket(tmp_path):
    server = start_s3_server(tmp_path / "moto.log", make_bucket=False)
    yield server
    server.stop()


def test_the_first_start_makes_the_bucket_and_a_staff_user_whose_password_it_prints_once(tmp_path,
                                                                                           s3_without_a_bucket):
    env = {"SECRET_KEY_FILE": str(tmp_path / "secret" / "secret_key"), "VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **s3_without_a_bucket.settings}
    first = _in_container([str(ROOT / "scripts" / "docker-init.sh")], **env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Created the bucket {BUCKET}." in first.stdout
    (line,) = [line for line in first.stdout.splitlines() if "password:" in line]
    assert line.startswith("Created the staff user 'admin' with password: ")
    password = line.rsplit(" ", 1)[1]
    check = ("from django.contrib.auth import authenticate; from django.test import RequestFactory; "
             f"u = authenticate(RequestFactory().post('/'), username='admin', password={password!r}); "
             "print(u is not None and u.is_staff and u.is_superuser)")
    signed_in = _in_container(["python", "manage.py", "shell", "--no-imports", "-c", check], **env)
    assert signed_in.stdout.strip() == "True", signed_in.stderr
    s3_without_a_bucket.client().head_bucket(Bucket=BUCKET)

    again = _in_container([str(ROOT / "scripts" / "docker-init.sh")], **env)
    assert again.returncode == 0, again.stderr
    assert "password" not in again.stdout + again.stderr and f"Bucket {BUCKET} is there." in again.stdout
