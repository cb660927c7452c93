"""Where a LabelIssueJob record meets the engine: labelled photos in, out-of-sample probabilities
and label-quality scores out (engine.label_issues says why out-of-sample, and how)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from classifier.models import Checkpoint, LabelIssueJob, Photo, model_input_array
from classifier.selectors.label_issues import checkpoint_lineage, checkpoint_trained_on
from classifier.services import jobs as job_services
from classifier.services import label_issues as label_issue_services
from dataset.classes import CLASS_NAMES
from dataset.fashion_mnist import training_data
from engine import label_issues as engine
from engine.prediction import load_predictor
from worker.checkpoint_files import checkpoint_path
from worker.training_job import start_from

# The share of the job's time the folds take (prediction and scoring are the rest): for the bar.
FOLDS_SHARE = 0.95


def base_for(checkpoint: Checkpoint, photo_ids: set[int]) -> Checkpoint | None:
    """The nearest checkpoint in `checkpoint`'s line (its parents) that trained on none of `photo_ids`."""
    for ancestor in checkpoint_lineage(checkpoint)[1:]:
        if not checkpoint_trained_on(ancestor) & photo_ids:
            return ancestor
    return None


def find_and_record(job: LabelIssueJob, *, on_progress: Callable[[float], None] | None = None) -> dict:
    if job.checkpoint is None:
        raise job_services.JobRefused("The job's checkpoint was deleted.")
    model = job.checkpoint
    rows = list(Photo.objects.filter(label__isnull=False).order_by("pk").values_list("pk", "model_input", "label"))
    if not rows:
        raise job_services.JobRefused("No labelled photos yet: label some photos first.")
    heartbeat = job_services.Heartbeat(job)

    def progress(fraction: float) -> None:
        heartbeat(fraction)
        if on_progress is not None:
            on_progress(fraction)

    label_issue_services.label_issue_job_progress(job=job, progress=0.0, total=len(rows))
    ids = np.asarray([pk for pk, _, _ in rows], dtype=np.int64)
    images = np.stack([model_input_array(data) for _, data, _ in rows])
    labels = np.asarray([label for *_, label in rows], dtype=np.int64)
    probabilities = np.zeros((len(rows), len(CLASS_NAMES)), dtype=np.float32)
    scored_by = [""] * len(rows)
    sources = []

    seen = checkpoint_trained_on(model)
    unseen = ~np.isin(ids, list(seen))
    if unseen.any():
        name = f"checkpoint #{model.pk}"
        engine.check_out_of_sample(scored=ids[unseen].tolist(), trained_on=seen, model=name)
        predictor = load_predictor(checkpoint_path(model), model.sha256, device="auto")
        probabilities[unseen] = predictor.probabilities(images[unseen])
        sources.append({"model": name, "trained_on": sorted(seen), "scored": sorted(ids[unseen].tolist())})
        for i in np.flatnonzero(unseen):
            scored_by[i] = name
    learnt = ~unseen
    base = None
    if learnt.any():
        base = base_for(model, set(ids[learnt].tolist()))
        if base is None:
            raise job_services.JobRefused(
                f"Checkpoint #{model.pk} trained on {int(learnt.sum())} labelled photos and no checkpoint it was "
                "fine-tuned from is free of them: nothing could score them out of sample.")
        base_seen = checkpoint_trained_on(base)
        if job.folds >= 2 and learnt.sum() >= 2 * job.folds:
            config = engine.fold_config(base.run.config, base_checkpoint=base.pk, seed=job.pk)
            init_state, config = start_from(base, config)
            data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
            fmnist = engine.FoldData(data.train_images, data.train_labels, data.val_images, data.val_labels)
            fold_probabilities, fold_sources = engine.cross_fitted_probabilities(
                ids=ids[learnt], images=images[learnt], labels=labels[learnt], folds=job.folds, config=config,
                init_state=init_state, base_trained_on=base_seen, fmnist=fmnist,
                on_progress=lambda fraction: progress(FOLDS_SHARE * fraction),
            )
            probabilities[learnt] = fold_probabilities
            for source in fold_sources:
                source["model"] = f"{source['model']} (fine-tune of checkpoint #{base.pk})"
                source["trained_on"] = sorted(set(source["trained_on"]) | base_seen)
            where = {pk: source["model"] for source in fold_sources for pk in source["scored"]}
            sources += fold_sources
        else:
            name = f"checkpoint #{base.pk} (the base model)"
            engine.check_out_of_sample(scored=ids[learnt].tolist(), trained_on=base_seen, model=name)
            predictor = load_predictor(checkpoint_path(base), base.sha256, device="auto")
            probabilities[learnt] = predictor.probabilities(images[learnt])
            sources.append({"model": name, "trained_on": sorted(base_seen), "scored": sorted(ids[learnt].tolist())})
            where = dict.fromkeys(ids[learnt].tolist(), name)
        for i in np.flatnonzero(learnt):
            scored_by[i] = where[int(ids[i])]
    progress(FOLDS_SHARE)

    quality = engine.label_quality(labels, probabilities)
    label_issue_services.label_issue_job_record(job=job, scores=[
        dict(photo_id=int(ids[i]), label=int(labels[i]), suspected=int(quality.suspected[i]),
             score=round(float(quality.score[i]), 6), label_probability=round(float(quality.label_probability[i]), 6),
             is_issue=bool(quality.is_issue[i]), scored_by=scored_by[i])
        for i in range(len(rows))
    ])
    return {"total": len(rows), "suspects": int(quality.is_issue.sum()), "sources": sources, "base_checkpoint": base}
