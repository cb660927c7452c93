"""docker-compose.yml, checked through `docker-compose config` (no Docker engine needed).

Works with Compose v2 (`config --format json`) and with Debian's docker-compose 1.29, which
prints only YAML: that is parsed with PyYAML, or, where this interpreter lacks it, with the
Python that runs docker-compose 1.x (which always has PyYAML).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="the docker-compose binary is not installed (CI installs it)"
)

YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def _compose_config(*args: str, secret_key: str | None, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    # An empty env file, so a developer's .env can't supply (or hide) anything.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    command = [COMPOSE, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml")]
    return subprocess.run(
        [*command, "config", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _yaml_to_dict(text: str) -> dict:
    try:
        import yaml
    except ImportError:
        with open(COMPOSE, "rb") as f:
            shebang = f.readline().decode(errors="replace")
        if not (shebang.startswith("#!") and "python" in shebang):
            pytest.fail("cannot parse docker-compose's YAML: install PyYAML")
        interpreter = shebang[2:].split()
        out = subprocess.run(
            [*interpreter, "-c", YAML_TO_JSON], input=text, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("compose")
    as_json = _compose_config("--format", "json", secret_key="dummy", tmp_path=tmp_path)
    # docker-compose 1.x answers an unknown option with its usage text, and exit status 0.
    if as_json.returncode == 0 and as_json.stdout.lstrip().startswith("{"):
        return json.loads(as_json.stdout)
    as_yaml = _compose_config(secret_key="dummy", tmp_path=tmp_path)
    assert as_yaml.returncode == 0, as_yaml.stderr
    return _yaml_to_dict(as_yaml.stdout)


def _mounts(service: dict) -> dict[str, str]:
    """source -> target; v1 prints 'media:/var/app/media:rw', v2 a mapping."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume["target"]
        mounts[source] = target
    return mounts


def test_it_defines_the_four_services(config):
    assert {"web", "worker", "redis", "postgres"} <= set(config["services"])


def test_web_and_worker_are_built_from_the_same_image(config):
    web, worker = config["services"]["web"], config["services"]["worker"]
    assert web["build"] == worker["build"]
    assert Path(web["build"]["context"]).resolve() == ROOT


def test_the_worker_reserves_one_nvidia_gpu(config):
    devices = config["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia"
    assert int(devices[0]["count"]) == 1
    assert devices[0]["capabilities"] == ["gpu"]


def test_every_long_running_service_has_a_healthcheck(config):
    for name in ("web", "worker", "redis", "postgres"):
        assert config["services"][name].get("healthcheck", {}).get("test"), name


def test_media_and_checkpoints_are_named_volumes_shared_by_web_and_worker(config):
    assert {"media", "checkpoints", "postgres_data"} <= set(config["volumes"])
    for name in ("web", "worker"):
        service = config["services"][name]
        assert _mounts(service)["media"] == service["environment"]["MEDIA_ROOT"]
        assert _mounts(service)["checkpoints"] == service["environment"]["CHECKPOINT_ROOT"]


def test_web_and_worker_wait_for_healthy_backends_and_migrations(config):
    for name in ("web", "worker"):
        depends_on = config["services"][name]["depends_on"]
        assert depends_on["redis"]["condition"] == "service_healthy", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name


def test_it_refuses_to_render_without_a_secret_key(tmp_path):
    result = _compose_config(secret_key=None, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "set SECRET_KEY in .env" in result.stderr
