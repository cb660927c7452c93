from classifier.models.runs import Checkpoint, EpochLog, RunStatus, TrainingRun

__all__ = ["Checkpoint", "EpochLog", "RunStatus", "TrainingRun"]
