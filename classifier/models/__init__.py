from classifier.models.promotions import Promotion
from classifier.models.reports import DATASET_LABELS, EvaluationReport, Predictions, ReportOrigin
from classifier.models.runs import Checkpoint, EpochLog, RunStatus, TrainingRun

__all__ = ["Checkpoint", "DATASET_LABELS", "EpochLog", "EvaluationReport", "Predictions", "Promotion",
           "ReportOrigin", "RunStatus", "TrainingRun"]
