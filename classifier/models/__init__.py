from classifier.models.jobs import ACTIVE_STATUSES, Job, JobStatus
from classifier.models.label_issues import DEFAULT_FOLDS, LabelIssueJob, LabelScore
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
from classifier.models.runs import Checkpoint, EpochLog, TrainingRun

__all__ = [
    "ACTIVE_STATUSES", "CLASS_CHOICES", "Checkpoint", "DATASET_LABELS", "DEFAULT_FOLDS", "EpochLog",
    "EvaluationReport", "Job", "JobStatus", "LabelCorrection", "LabelIssueJob", "LabelScore", "Photo",
    "PredictionJob", "PredictionScope", "PredictionTarget", "Predictions", "Promotion", "ReportOrigin",
    "TrainingRun", "model_input_array",
]
