"""Does "possibly mislabelled" find planted label errors? A rerunnable measurement of issue 15,
through the app's own services and job, on a throwaway database:

    python -m tools.label_errors                  # the team's photos, 25 far-off and 25 near errors
    python -m tools.label_errors --no-home --far 4 --near 4 --json var/label-errors.json

1. ../shared/photos (48 product photos) and ../shared/photos-home (2,193 home photos) are copied
   into a temporary folder (never into the repository) and, in the copy's manifests, some labels
   are changed: far-off errors (a trouser labelled bag: another kind of garment altogether) and
   near ones (T-shirt <-> Shirt, Pullover <-> Coat, Sneaker <-> Sandal, Sneaker <-> Ankle boot).
2. The copy is imported into a fresh SQLite database (`manage.py import_photos`), so photos get
   their part of the split and their near-duplicate groups as uploads do.
3. A small `fast` base model is trained, then fine-tuned with the train part's photos, planted
   errors included (as a team would), both through the app's training job.
4. The label issue job examines the fine-tune: the held-out photos by the fine-tune itself, the
   train part by cross-fitted fine-tunes of the base. The job is timed.
5. Planted errors among the first k suspects, for a few k, against two baselines: "lowest
   confidence in the label" by the examined fine-tune's own probabilities (in-sample for the
   photos it trained on, which is what the gallery's "least confident" order shows), and the
   base model's confidence in the label (out-of-sample for every photo, but a weaker model).

Photos already mislabelled in the shared sets count as misses here, so the figures are a floor.
The base and fine-tune are smaller than the app's defaults (few epochs on a subset) to fit a
shared 2-core CPU; the job itself runs with the app's defaults.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEAR_PAIRS = ((0, 6), (2, 4), (5, 7), (7, 9))  # T-shirt/Shirt, Pullover/Coat, Sandal/Sneaker, Sneaker/Ankle boot
# Far off: a class of another kind of thing (tops, trousers, dresses, footwear, bags).
KIND = {0: "top", 2: "top", 4: "top", 6: "top", 1: "trouser", 3: "dress", 5: "shoe", 7: "shoe", 9: "shoe", 8: "bag"}
KS = (10, 25, 50, 100, 200)


def shared_dir() -> Path:
    return Path(os.environ.get("SHARED_DIR") or REPO.parent / "shared")


def plant(rows: list[dict], *, far: int, near: int, rng: random.Random) -> dict[str, tuple[int, int, str]]:
    """Change the labels of `far` + `near` rows in place; returns file -> (true, planted, kind)."""
    planted: dict[str, tuple[int, int, str]] = {}
    order = rng.sample(range(len(rows)), len(rows))
    near_of = {}
    for a, b in NEAR_PAIRS:
        near_of.setdefault(a, []).append(b)
        near_of.setdefault(b, []).append(a)
    wanted = {"far": far, "near": near}
    for i in order:
        if not any(wanted.values()):
            break
        row = rows[i]
        true = int(row["label_index"])
        kind = "near" if wanted["near"] and (wanted["near"] >= wanted["far"] or not wanted["far"]) else "far"
        choices = near_of.get(true, []) if kind == "near" else [c for c in range(10) if KIND[c] != KIND[true]]
        if not choices:
            continue
        wrong = rng.choice(choices)
        row["label_index"], row["label"] = str(wrong), ""
        planted[row["file"]] = (true, wrong, kind)
        wanted[kind] -= 1
    return planted


def copy_with_errors(target: Path, *, far: int, near: int, home: bool, seed: int) -> dict[str, tuple[int, int, str]]:
    """The shared photo folders copied under target, errors planted in the copies' manifests.
    Returns sha256 of the file's bytes -> (true, planted, kind)."""
    rng = random.Random(seed)
    folders = ["photos"] + (["photos-home"] if home else [])
    rows_by_folder = {}
    for name in folders:
        shutil.copytree(shared_dir() / name, target / name, ignore=shutil.ignore_patterns("*.md"))
        with open(target / name / "manifest.csv", newline="") as f:
            rows_by_folder[name] = list(csv.DictReader(f))
    everything = [(name, row) for name, rows in rows_by_folder.items() for row in rows]
    planted_rows = plant([row for _, row in everything], far=far, near=near, rng=rng)
    planted = {}
    for name, rows in rows_by_folder.items():
        with open(target / name / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        for row in rows:
            if row["file"] in planted_rows:
                digest = hashlib.sha256((target / name / row["file"]).read_bytes()).hexdigest()
                planted[digest] = planted_rows[row["file"]]
    return planted


def planted_in_copy(copy: Path) -> dict[str, tuple[int, int, str]]:
    """What an earlier run planted in `copy`: its manifests' labels against the shared ones."""
    planted = {}
    for name in ("photos", "photos-home"):
        if not (copy / name / "manifest.csv").exists():
            continue
        with open(shared_dir() / name / "manifest.csv", newline="") as f:
            true = {row["file"]: int(row["label_index"]) for row in csv.DictReader(f)}
        with open(copy / name / "manifest.csv", newline="") as f:
            for row in csv.DictReader(f):
                label = int(row["label_index"])
                if label != true[row["file"]]:
                    kind = "near" if KIND[label] == KIND[true[row["file"]]] else "far"
                    digest = hashlib.sha256((copy / name / row["file"]).read_bytes()).hexdigest()
                    planted[digest] = (true[row["file"]], label, kind)
    return planted


def setup_django(folder: Path) -> None:
    """A throwaway database and file folders under `folder`; nothing reaches Redis (an in-memory broker)."""
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "fmnistsite.settings", "DEBUG": "1", "LOCAL_SETTINGS_FILE": "",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "MEDIA_ROOT": str(folder / "media"),
        "CHECKPOINT_ROOT": str(folder / "checkpoints"), "CHECKPOINT_CACHE_DIR": str(folder / "checkpoint-cache"),
        "CELERY_BROKER_URL": "memory://", "JOB_WEB_SWEEP_S": "0",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def hits(ranked: list[int], planted_ids: dict[int, str], k: int) -> tuple[int, int, int]:
    """(all, far, near) planted errors among the first k of a ranking of photo ids."""
    top = [planted_ids[pk] for pk in ranked[:k] if pk in planted_ids]
    return len(top), top.count("far"), top.count("near")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--far", type=int, default=25, help="far-off errors to plant")
    parser.add_argument("--near", type=int, default=25, help="near errors to plant (T-shirt vs Shirt, ...)")
    parser.add_argument("--no-home", action="store_true", help="only the 48 product photos")
    parser.add_argument("--folds", type=int, default=None, help="the job's folds (default: the app's)")
    parser.add_argument("--base-epochs", type=int, default=3)
    parser.add_argument("--base-images", type=int, default=12000, help="Fashion-MNIST images the base trains on")
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--finetune-images", type=int, default=6000)
    parser.add_argument("--photo-weight", type=float, default=None, help="photos' share of the fine-tune's batches "
                        "(default: the app's); more makes it learn, planted errors included, by heart")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: reuse the copy and database an earlier run left there (no import)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args(argv)
    if not (shared_dir() / "photos" / "manifest.csv").is_file():
        print(f"no photos at {shared_dir()} (set SHARED_DIR)", file=sys.stderr)
        return 1

    work = args.keep or Path(tempfile.mkdtemp(prefix="label-errors-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return measure(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def measure(args, work: Path) -> int:
    figures: dict = {"conditions": {}}
    started = time.perf_counter()
    reuse = args.reuse and (work / "db.sqlite3").exists()
    planted = (planted_in_copy(work / "copy") if reuse else
               copy_with_errors(work / "copy", far=args.far, near=args.near, home=not args.no_home, seed=args.seed))
    setup_django(work)

    from django.core.management import call_command

    from classifier.models import DEFAULT_FOLDS, LabelIssueJob, Photo, TrainingRun, model_input_array
    from classifier.selectors.runs import run_best_checkpoint
    from classifier.services import label_issues as label_issue_services
    from classifier.services import training as training_services
    from engine.config import TrainConfig
    from engine.hardware import describe_hardware, pick_device, pick_precision
    from engine.prediction import load_predictor
    from worker.checkpoint_files import checkpoint_path
    from worker.jobs import run_job
    from worker.label_issues_job import find_and_record
    from worker.training_job import train_and_record

    for name in [] if reuse else ["photos"] + ([] if args.no_home else ["photos-home"]):
        print(f"importing {name} ...", file=sys.stderr, flush=True)
        call_command("import_photos", str(work / "copy" / name / "manifest.csv"), "--no-predict", stdout=sys.stderr)
    imported_s = time.perf_counter() - started
    sha_to_pk = dict(Photo.objects.values_list("sha256", "pk"))
    planted_ids = {sha_to_pk[sha]: kind for sha, (_, _, kind) in planted.items() if sha in sha_to_pk}
    labelled = Photo.objects.filter(label__isnull=False).count()
    print(f"{labelled} labelled photos, {len(planted_ids)} planted errors; {imported_s:.0f} s", file=sys.stderr)

    def trained(run: TrainingRun, what: str):
        t = time.perf_counter()
        run = run_job(TrainingRun, run.pk, train_and_record)
        if run is None or run.status != "succeeded":
            raise SystemExit(f"the {what} failed: {run.error if run else 'not run'}")
        print(f"{what}: best val acc {run_best_checkpoint(run=run).val_acc:.4f}, {time.perf_counter() - t:.0f} s",
              file=sys.stderr, flush=True)
        return run_best_checkpoint(run=run)

    base = trained(training_services.training_run_create(created_by=None, config=TrainConfig.for_preset(
        "fast", epochs=args.base_epochs, limit=args.base_images, seed=args.seed)), "base")
    finetune = trained(training_services.training_run_create_finetune(
        created_by=None, parent=base, with_photos=True, epochs=args.finetune_epochs, limit=args.finetune_images,
        seed=args.seed, photo_weight=args.photo_weight), "fine-tune")

    folds = DEFAULT_FOLDS if args.folds is None else args.folds
    job = label_issue_services.label_issues_find(user=None, checkpoint=finetune, folds=folds, enqueue=False)
    t = time.perf_counter()
    job = run_job(LabelIssueJob, job.pk, find_and_record)
    job_s = time.perf_counter() - t
    if job.status != "succeeded":
        raise SystemExit(f"the label issue job failed: {job.error}")
    ranked_job = list(job.scores.order_by("-score", "photo_id").values_list("photo_id", flat=True))
    flagged = set(job.scores.filter(is_issue=True).values_list("photo_id", flat=True))

    rows = list(Photo.objects.filter(label__isnull=False).order_by("pk").values_list("pk", "model_input", "label"))
    import numpy as np

    images = np.stack([model_input_array(data) for _, data, _ in rows])
    labels = np.asarray([label for *_, label in rows])
    ids = [pk for pk, *_ in rows]

    def by_confidence(checkpoint) -> list[int]:
        probabilities = load_predictor(checkpoint_path(checkpoint), checkpoint.sha256, "auto").probabilities(images)
        p_label = probabilities[np.arange(len(labels)), labels]
        return [ids[i] for i in np.argsort(p_label, kind="stable")]

    rankings = {"label issue job (out of sample)": ranked_job,
                "baseline: fine-tune's own confidence in the label": by_confidence(finetune),
                "baseline: base model's confidence in the label": by_confidence(base)}
    trained_on = set(pk for pk, _ in TrainingRun.objects.get(pk=finetune.run_id).photo_snapshot)
    device = pick_device("auto")
    figures["conditions"] = {
        "labelled_photos": labelled, "planted": len(planted_ids),
        "planted_far": sum(1 for k in planted_ids.values() if k == "far"),
        "planted_near": sum(1 for k in planted_ids.values() if k == "near"),
        "planted_in_train_part": sum(1 for pk in planted_ids if pk in trained_on),
        "fine_tune_trained_on": len(trained_on), "folds": folds, "hardware": describe_hardware(device),
        "precision": pick_precision(device), "threads": __import__("torch").get_num_threads(),
        "base": f"fast, {args.base_epochs} epochs on {args.base_images} images, val acc {base.val_acc:.4f}",
        "fine_tune": f"{args.finetune_epochs} epochs, {args.finetune_images} Fashion-MNIST images + photos "
                     f"({TrainingRun.objects.get(pk=finetune.run_id).config['photo_weight']:g} of each batch), "
                     f"val acc {finetune.val_acc:.4f}",
    }
    figures["job_seconds"] = round(job_s, 1)
    figures["flagged"] = {"count": len(flagged), "planted_flagged": len(flagged & set(planted_ids))}
    figures["top_k"] = {name: {k: dict(zip(("all", "far", "near"), hits(r, planted_ids, k))) for k in KS}
                        for name, r in rankings.items()}

    c = figures["conditions"]
    print(f"\n{c['labelled_photos']} labelled photos; planted {c['planted']} errors ({c['planted_far']} far-off, "
          f"{c['planted_near']} near), {c['planted_in_train_part']} of them in the train part the fine-tune learnt")
    print(f"base: {c['base']}; fine-tune: {c['fine_tune']}; {c['hardware']}, {c['precision']}, {c['threads']} threads")
    print(f"label issue job: {job_s:.1f} s for {job.total} photos ({folds} folds); cleanlab flagged {len(flagged)}, "
          f"{figures['flagged']['planted_flagged']} of them planted")
    print(f"\nplanted errors among the first k (all / far-off / near), of {c['planted']} "
          f"({c['planted_far']} / {c['planted_near']}):")
    print(f"{'':<52}" + "".join(f"{'k=' + str(k):>14}" for k in KS))
    for name, row in figures["top_k"].items():
        print(f"{name:<52}" + "".join(f"{row[k]['all']:>5} {row[k]['far']:>3}/{row[k]['near']:<4}" for k in KS))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
