"""A real S3 protocol server on loopback: moto's standalone server, in a process of its own,
for the tests of object storage (the web side and workers that share no disk)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

BUCKET = "fmnist-test"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    process: subprocess.Popen
    endpoint: str

    @property
    def settings(self) -> dict[str, str]:
        """The AWS_* settings that put stored files in the bucket, as environment variables."""
        return {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": self.endpoint,
                "AWS_S3_REGION_NAME": REGION, "AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="test-key", aws_secret_access_key="test-secret")

    def keys(self, prefix: str = "") -> dict[str, bytes]:
        """Every object under prefix, with its bytes."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_s3_server(log_path: Path, *, make_bucket: bool = True) -> S3Server:
    """moto_server on a free loopback port, with an empty bucket made (unless told not to)."""
    port = _free_port()
    moto = Path(sys.executable).parent / "moto_server"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT)
    server = S3Server(process=process, endpoint=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(server.endpoint, timeout=1).close()
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"moto_server did not start:\n{log_path.read_text(errors='replace')}") from None
            time.sleep(0.2)
    if make_bucket:
        server.client().create_bucket(Bucket=BUCKET)
    return server


@pytest.fixture
def s3(tmp_path):
    server = start_s3_server(tmp_path / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def web_on_the_bucket(settings, s3, tmp_path):
    """This process is the web host: the bucket for files, and folders of its own that must stay empty."""
    for name, value in s3.settings.items():
        setattr(settings, name, value)
    s3_backend = "storages.backends.s3.S3Storage"
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": s3_backend, "OPTIONS": {"location": "media"}},
                         "checkpoints": {"BACKEND": s3_backend, "OPTIONS": {"location": "checkpoints"}}}
    web = tmp_path / "web-host"
    settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = web / "media", web / "checkpoints"
    settings.CHECKPOINT_CACHE_DIR = web / "checkpoint-cache"
    return web
