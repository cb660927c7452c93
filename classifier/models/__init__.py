from classifier.models.photos import (
    CLASS_CHOICES, JobStatus, LabelCorrection, Photo, PredictionJob, PredictionScope, model_input_array,
)
from classifier.models.runs import Checkpoint, EpochLog, RunStatus, TrainingRun

__all__ = [
    "CLASS_CHOICES", "Checkpoint", "EpochLog", "JobStatus", "LabelCorrection", "Photo", "PredictionJob",
    "PredictionScope", "RunStatus", "TrainingRun", "model_input_array",
]
