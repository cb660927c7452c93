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


def _compose_config(*args: str, tmp_path: Path, **env_vars: str):
    """`docker-compose config` with nothing set but env_vars: no SECRET_KEY, no developer's .env."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "COMPOSE_PROFILES", "WORKER_QUEUES") and not k.startswith("AWS_")}
    env.update(env_vars)
    # An empty env file, so a developer's .env can't supply (or hide) anything.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    command = [COMPOSE, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml")]
    return subprocess.run(
        [*command, "config", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _rendered(tmp_path: Path, **env_vars: str) -> dict:
    as_json = _compose_config("--format", "json", tmp_path=tmp_path, **env_vars)
    # docker-compose 1.x answers an unknown option with its usage text, and exit status 0.
    if as_json.returncode == 0 and as_json.stdout.lstrip().startswith("{"):
        return json.loads(as_json.stdout)
    as_yaml = _compose_config(tmp_path=tmp_path, **env_vars)
    assert as_yaml.returncode == 0, as_yaml.stderr
    return _yaml_to_dict(as_yaml.stdout)


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
    """Plain `docker compose up` on a fresh clone: nothing set."""
    return _rendered(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def gpu_config(tmp_path_factory) -> dict:
    """The GPU variant, as docker-compose.yml's one line says."""
    return _rendered(tmp_path_factory.mktemp("compose-gpu"), COMPOSE_PROFILES="gpu", WORKER_QUEUES="celery")


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


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def _queues(service: dict) -> set[str]:
    words = _command(service).split()
    return set(words[words.index("-Q") + 1].split(","))


APP_SERVICES = ("migrate", "web", "worker", "worker-gpu")


def test_it_defines_the_services(config):
    assert {"migrate", "web", "worker", "worker-gpu", "redis", "postgres", "minio"} <= set(config["services"])


def test_app_services_are_built_from_this_checkout(config):
    web, worker = config["services"]["web"], config["services"]["worker"]
    assert web["build"] == worker["build"]
    for name in APP_SERVICES:
        assert Path(config["services"][name]["build"]["context"]).resolve() == ROOT


def test_the_default_worker_runs_on_any_host_and_takes_every_job(config):
    worker = config["services"]["worker"]
    assert "deploy" not in worker  # no GPU reservation: Docker would refuse it on a host without one
    assert "profiles" not in worker
    assert _queues(worker) == {"celery", "gpu"}
    assert "--concurrency 1" in _command(worker) and "--pool" not in _command(worker)  # prefork


def test_the_gpu_worker_is_a_profile_that_reserves_one_gpu_and_takes_the_gpu_queue(config, gpu_config):
    assert config["services"]["worker-gpu"]["profiles"] == ["gpu"]  # off unless asked for
    gpu, cpu = gpu_config["services"]["worker-gpu"], gpu_config["services"]["worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1 and devices[0]["driver"] == "nvidia" and int(devices[0]["count"]) == 1
    assert devices[0]["capabilities"] == ["gpu"]
    assert _queues(gpu) == {"gpu"} and _queues(cpu) == {"celery"}  # each job on one kind of worker
    assert "/whl/cu" in gpu["build"]["args"]["TORCH_INDEX"] and "/whl/cpu" in cpu["build"]["args"]["TORCH_INDEX"]
    assert gpu["environment"]["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"
    assert gpu["environment"]["AWS_STORAGE_BUCKET_NAME"] == cpu["environment"]["AWS_STORAGE_BUCKET_NAME"]


def test_every_long_running_service_has_a_healthcheck(config):
    for name in ("web", "worker", "worker-gpu", "redis", "postgres", "minio"):
        assert config["services"][name].get("healthcheck", {}).get("test"), name


def test_files_live_in_the_bucket_and_no_folder_is_shared(config):
    minio = config["services"]["minio"]["environment"]
    for name in APP_SERVICES:
        service = config["services"][name]
        env = service["environment"]
        assert env["AWS_STORAGE_BUCKET_NAME"] and env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (minio["MINIO_ROOT_USER"],
                                                                            minio["MINIO_ROOT_PASSWORD"])
        assert set(_mounts(service)) <= {"secret", "worker_cache"}, name
    for name in ("worker", "worker-gpu"):  # their own disk, where settings put scratch and cache
        assert _mounts(config["services"][name])["worker_cache"] == "/var/app/checkpoint-cache"
    assert _mounts(config["services"]["minio"])["minio_data"] == "/data"


def test_redis_keeps_its_queue_on_disk(config):
    redis = config["services"]["redis"]
    assert "--appendonly yes" in _command(redis) and _mounts(redis)["redis_data"] == "/data"


def test_app_services_wait_for_healthy_backends_and_migrations(config):
    for name in ("web", "worker", "worker-gpu"):
        depends_on = config["services"][name]["depends_on"]
        for backend in ("redis", "postgres", "minio"):
            assert depends_on[backend]["condition"] == "service_healthy", (name, backend)
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    assert _command(config["services"]["migrate"]) == "scripts/docker-init.sh"


def test_it_renders_without_a_secret_key_which_the_entrypoint_then_provides(config):
    for name in APP_SERVICES:
        assert config["services"][name]["environment"]["SECRET_KEY"] == ""
        assert _mounts(config["services"][name])["secret"] == "/var/app/secret"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]' in dockerfile
    assert os.access(ROOT / "scripts" / "docker-entrypoint.sh", os.X_OK)
    assert os.access(ROOT / "scripts" / "docker-init.sh", os.X_OK)
