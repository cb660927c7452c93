"""Succeeded reports with a chosen accuracy, for tests of scorecards and promotions."""

import numpy as np

from tests.factories import report_from_logits


def scored(checkpoint, dataset_name: str, *, correct: int, total: int, classes=(0,), **fields):
    """A report on which the first ``correct`` of ``total`` samples are right; samples cycle
    through ``classes``, and a wrong one is predicted as the next class."""
    labels = np.array([classes[i % len(classes)] for i in range(total)])
    right = np.arange(total) < correct
    return scored_exactly(checkpoint, dataset_name, labels=labels, right=right, **fields)


def scored_exactly(checkpoint, dataset_name: str, *, labels, right, sample_keys=None, **fields):
    """A report where sample i has class labels[i] and is predicted right where right[i];
    photo reports' samples are keyed 1000, 1001, ... unless ``sample_keys`` (photo ids) are given."""
    labels, right = np.asarray(labels), np.asarray(right, dtype=bool)
    total = len(labels)
    predicted = np.where(right, labels, (labels + 1) % 10)
    logits = np.full((total, 10), -4.0, dtype=np.float32)
    logits[np.arange(total), predicted] = 4.0
    keys = sample_keys or ([str(1000 + i) for i in range(total)] if dataset_name != "fmnist-test" else None)
    return report_from_logits(labels, logits, checkpoint=checkpoint, dataset_name=dataset_name, sample_keys=keys,
                              **fields)
