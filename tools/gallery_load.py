"""Requests per second on the two busiest pages, the gallery and the run list, against gunicorn.

    python -m tools.gallery_load                          # 5,000 photos, 200 runs, 20 s a page
    python -m tools.gallery_load --photos 50 --runs 10 --seconds 2     # a quick look

It seeds a database of its own in a temporary folder (never the team's: VAR_DIR points there),
with bulk inserts and tiny real PNG thumbnails, signs one user in by writing a session row,
starts gunicorn (2 sync workers, DEBUG off) on a free port, and fires `--connections` concurrent
clients at each page in turn for `--seconds`. Each client opens a connection per request, as a
browser does with a sync worker (gunicorn's sync workers close it after every answer). It prints
requests a second, p50 and p99 for each page and exits non-zero if a page answered anything but
200. The targets (issue 14): at least 40 requests a second and p99 under 0.5 s for each page.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = {"gallery": "/photos/", "run list": "/"}
TARGET_RPS, TARGET_P99_S = 40, 0.5


def _env(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "AWS_STORAGE_BUCKET_NAME", "MEDIA_ROOT", "CHECKPOINT_ROOT"):
        env.pop(name, None)  # everything under var_dir, whatever this shell points at
    env.update(VAR_DIR=str(var_dir), DEBUG="0", SECRET_KEY="gallery-load-" + "x" * 40, BEHIND_HTTPS_PROXY="0",
               ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="fmnistsite.settings",
               JOB_WEB_SWEEP_S="0", PYTHONPATH=str(REPO))
    return env


def _png(rng: random.Random) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(out, "PNG")
    return out.getvalue()


def seed(photos: int, runs: int) -> str:
    """Fill the (migrated) database; returns a signed-in staff user's session key."""
    import django

    django.setup()
    import hashlib

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from classifier.models import Checkpoint, JobStatus, Photo, TrainingRun

    rng = random.Random(0)
    user = get_user_model().objects.create_user("load", password="load-" + "x" * 20, is_staff=True)
    now = timezone.now()
    statuses = [JobStatus.SUCCEEDED] * 6 + [JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.RUNNING, JobStatus.QUEUED]
    made = TrainingRun.objects.bulk_create([
        TrainingRun(config={"epochs": 3, "batch_size": 128, "lr": 0.01}, preset=rng.choice(["fast", "seed", "best"]),
                    seed=i, note=f"load run {i}", status=statuses[i % len(statuses)], created_by=user,
                    created_at=now, started_at=now, finished_at=now, epochs_done=3, progress=1.0)
        for i in range(runs)])
    run_ids = list(TrainingRun.objects.order_by("pk").values_list("pk", flat=True))
    assert len(run_ids) == len(made)
    Checkpoint.objects.bulk_create([
        Checkpoint(run_id=pk, epoch=epoch, file=f"run-{pk}/epoch-{epoch:03d}.pt", size=1000, sha256="0" * 64,
                   val_acc=0.8 + epoch / 100, val_loss=0.5) for pk in run_ids for epoch in (1, 2, 3)])
    folder = Path(settings.MEDIA_ROOT) / "photos" / "load"
    folder.mkdir(parents=True, exist_ok=True)
    thumbs = []
    for i in range(32):  # photos share a few real files: the pages serve HTML, not thumbnails
        (folder / f"{i}.png").write_bytes(_png(rng))
        thumbs.append(f"photos/load/{i}.png")
    rows = []
    for i in range(photos):
        sha = hashlib.sha256(f"load photo {i}".encode()).hexdigest()
        predicted = rng.randrange(10)
        rows.append(Photo(
            original=thumbs[i % 32], thumbnail=thumbs[i % 32], model_input=rng.randbytes(784), preprocess_version=3,
            original_name=f"photo-{i}.jpg", sha256=sha, stored_sha256=sha, width=640, height=480, uploaded_by=user,
            source=rng.choice(["home", "shop a", "shop b", ""]), held_out=i % 3 == 0,
            predicted_label=predicted, confidence=rng.random(), probabilities=[0.1] * 10, predicted_at=now,
            label=rng.choice([None, None, predicted, rng.randrange(10)])))
    Photo.objects.bulk_create(rows, batch_size=500)
    session = SessionStore()
    session.update({"_auth_user_id": str(user.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                    "_auth_user_hash": user.get_session_auth_hash()})
    session.create()
    return session.session_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, cookie: str) -> tuple[int, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}", "Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        conn.close()


def hammer(port: int, path: str, cookie: str, connections: int, seconds: float) -> dict:
    """`connections` clients, each sending its next request as soon as the last is answered."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            try:
                status, took = _get(port, path, cookie)
            except OSError:
                status, took = 0, 0.0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(took)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": p99, "n": len(latencies), "statuses": statuses}


def _wait_for(port: int, cookie: str, server: subprocess.Popen, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            status = _get(port, "/", cookie)[0]
        except OSError:
            status = None
        if status == 200:
            return
        if status is not None:
            sys.exit(f"the run list answered {status} (see gunicorn's log above)")
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within a minute")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="of load on each page")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--seed-only", metavar="VAR_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:  # the child process: Django set up on the temporary database
        print(seed(args.photos, args.runs))
        return 0
    with tempfile.TemporaryDirectory(prefix="gallery-load-") as tmp:
        var_dir = Path(tmp)
        env = _env(var_dir)
        python = sys.executable
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True)
        subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
        started = time.perf_counter()
        cookie = subprocess.run([python, "-m", "tools.gallery_load", "--seed-only", tmp, "--photos", str(args.photos),
                                 "--runs", str(args.runs)], cwd=REPO, env=env, check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1]
        print(f"seeded {args.photos} photos and {args.runs} runs in {time.perf_counter() - started:.1f} s")
        port = _free_port()
        server = subprocess.Popen([python, "-m", "gunicorn", "fmnistsite.wsgi", "-w", str(args.workers), "-b",
                                   f"127.0.0.1:{port}", "--log-level", "warning"], cwd=REPO, env=env)
        ok = True
        try:
            _wait_for(port, cookie, server)
            for name, path in PAGES.items():
                for _ in range(3):  # warm both workers' caches (templates, connections)
                    _get(port, path, cookie)
                got = hammer(port, path, cookie, args.connections, args.seconds)
                bad = {s: n for s, n in got["statuses"].items() if s != 200}
                meets = got["rps"] >= TARGET_RPS and got["p99"] < TARGET_P99_S
                print(f"{name:9} {got['rps']:6.1f} requests/s  p50 {got['p50'] * 1000:6.0f} ms  "
                      f"p99 {got['p99'] * 1000:6.0f} ms  ({got['n']} answered, {args.connections} connections, "
                      f"{args.seconds:g} s){'' if meets else '  below the target'}"
                      + (f"  NOT 200: {bad}" if bad else ""))
                ok = ok and not bad
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
