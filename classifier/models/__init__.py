from classifier.models.photos import (
    CLASS_CHOICES, JobStatus, LabelCorrection, Photo, PredictionJob, PredictionScope, PredictionTarget,
    model_input_array,
)
from classifier.models.promotions import Promotion
from classifier.models.reports import DATASET_LABELS, EvaluationReport, Predictions, ReportOrigin
from classifier.models.runs import Checkpoint, EpochLog, RunStatus, TrainingRun

__all__ = [
    "CLASS_CHOICES", "Checkpoint", "DATASET_LABELS", "EpochLog", "EvaluationReport", "JobStatus",
    "LabelCorrection", "Photo", "PredictionJob", "PredictionScope", "PredictionTarget", "Predictions", "Promotion",
    "ReportOrigin", "RunStatus", "TrainingRun", "model_input_array",
]
