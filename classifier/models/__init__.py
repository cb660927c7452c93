from classifier.models.jobs import ACTIVE_STATUSES, Job, JobStatus
from classifier.models.photos import (
    CLASS_CHOICES,
    LabelCorrection,
    Photo,
    PredictionJob,
    PredictionScope,
    PredictionTarget,
    model_input_array,
)
from classifier.models.promotions import Promotion
from classifier.models.reports import DATASET_LABELS, EvaluationReport, Predictions, ReportOrigin
from classifier.models.runs import Checkpoint, EpochLog, Tag, TrainingRun

__all__ = [
    "ACTIVE_STATUSES", "CLASS_CHOICES", "Checkpoint", "DATASET_LABELS", "EpochLog", "EvaluationReport", "Job",
    "JobStatus", "LabelCorrection", "Photo", "PredictionJob", "PredictionScope", "PredictionTarget", "Predictions",
    "Promotion", "ReportOrigin", "Tag", "TrainingRun", "model_input_array",
]
