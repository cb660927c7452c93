"""Where an EvaluationReport record meets the engine: its checkpoint and dataset in, figures out.
The task and `manage.py evaluate` (in its own process) both run it through worker.jobs."""

from __future__ import annotations

from collections.abc import Callable

from classifier.models import EvaluationReport
from classifier.services import evaluation as evaluation_services
from classifier.services import jobs as job_services
from engine.evaluation import evaluate_checkpoint
from worker.checkpoint_files import checkpoint_path


def evaluate_and_record(report: EvaluationReport, *, device: str = "auto",
                        on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Score the report's checkpoint; returns the fields stored with its success. A checkpoint
    file that is missing, or whose sha256 differs from the one recorded, is refused."""
    if report.checkpoint is None:
        raise job_services.JobRefused(
            f"Checkpoint epoch {report.checkpoint_epoch} of run #{report.run_id} was deleted "
            "(training keeps only the best and the last).")
    heartbeat = job_services.Heartbeat(report)
    # An outside set is read and preprocessed first (about 75 ms a photo): the first half of
    # the bar. The test set and the team's photos are ready at once.
    loading = {"share": 0.0}

    def loaded(done: int, total: int) -> None:
        loading["share"] = 0.5
        heartbeat(0.5 * done / total)

    eval_set = evaluation_services.evaluation_dataset_resolve(report.dataset_name, on_progress=loaded)

    def progress(done: int, total: int) -> None:
        share = loading["share"]
        heartbeat(share + (1 - share) * (done / total if total else 1.0), force=done == total)
        if on_progress is not None:
            on_progress(done, total)

    result = evaluate_checkpoint(checkpoint_path(report.checkpoint), eval_set, expected_sha256=report.checkpoint_sha256,
                                 device=device, on_progress=progress)
    return evaluation_services.evaluation_result_fields(result)
