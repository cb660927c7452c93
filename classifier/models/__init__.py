from classifier.models.jobs import ACTIVE_STATUSES, Job, JobStatus
from classifier.models.label_issues import DEFAULT_FOLDS, LabelIssueJob, LabelScore
from classifier.models.photos import (
    CLASS_CHOICES,
    NO_SOURCE,
    LabelCorrection,
    Photo,
    PhotoBatch,
    PhotoBatchKind,
    PhotoState,
    PredictionJob,
    PredictionScope,
    PredictionTarget,
    PreparationJob,
    model_input_array,
)
from classifier.models.promotions import Promotion
from classifier.models.reports import DATASET_LABELS, EvaluationReport, Predictions, ReportOrigin
from classifier.models.runs import Checkpoint, EpochLog, TrainingRun
from classifier.models.tags import Tag
from classifier.models.tokens import ApiToken
from classifier.models.webhooks import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent

__all__ = [
    "DEFAULT_FOLDS", "LabelIssueJob", "LabelScore",
    "ACTIVE_STATUSES", "ApiToken", "CLASS_CHOICES", "Checkpoint", "DATASET_LABELS", "DeliveryStatus", "EpochLog",
    "EvaluationReport", "Job", "JobStatus", "LabelCorrection", "NO_SOURCE", "Photo", "PhotoBatch", "PhotoBatchKind", "PhotoState",
    "PredictionJob", "PreparationJob", "PredictionScope", "PredictionTarget", "Predictions", "Promotion", "ReportOrigin", "Tag",
    "TrainingRun", "Webhook", "WebhookDelivery", "WebhookEvent", "model_input_array",
]
