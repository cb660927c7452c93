"""The figures of an evaluation report, from labels and logits, in plain numpy.

No torch and no Django: the engine hands in what the model said, and everything a report
shows (accuracy, loss, per-class precision/recall/F1, the confusion matrix, calibration, each
sample's top-3) is computed here, the same way for every dataset, and can be checked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ECE_BINS = 15  # equal-width confidence bins, as in Guo et al. (2017), "On Calibration of Modern Neural Networks"
TOP_K = 3


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64, shifted by the row maximum so nothing overflows."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts; row = true class, column = predicted class."""
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    return np.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # A class never predicted has no precision and one never present no recall; 0 by convention
    # (scikit-learn's zero_division=0), so every cell of the table is a number.
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_scores(matrix: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support for each class, from a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.int64)
    hits = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    # A class the set has no images of gets no score at all (None: "—" on pages, null in JSON):
    # a photo set may lack classes, and a 0 there would read as a class the model fails at.
    return [
        {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)} if s else
        {"precision": None, "recall": None, "f1": None, "support": 0}
        for p, r, f, s in zip(precision, recall, f1, support)
    ]


def macro_means(per_class: list[dict]) -> dict:
    """Unweighted means of precision, recall and F1 over the classes present in the set."""
    present = [c for c in per_class if c["support"]]
    return {key: float(np.mean([c[key] for c in present])) if present else None for key in ("precision", "recall", "f1")}


def calibration(confidence: np.ndarray, correct: np.ndarray, n_bins: int = ECE_BINS) -> dict:
    """Expected calibration error and the bins of a reliability diagram.

    Bin i holds confidences in (i/n, (i+1)/n] (the first also holds 0). ECE is the mean, over
    samples, of |accuracy - mean confidence| of the sample's bin."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    confidence_sums = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sums = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    mean_confidence, accuracy = _ratio(confidence_sums, counts), _ratio(correct_sums, counts)
    n = max(1, len(confidence))
    ece = float(np.sum(counts / n * np.abs(accuracy - mean_confidence)))
    bins = [
        {"lower": i / n_bins, "upper": (i + 1) / n_bins, "count": int(counts[i]),
         "confidence": float(mean_confidence[i]), "accuracy": float(accuracy[i])}
        for i in range(n_bins)
    ]
    return {"ece": ece, "n_bins": n_bins, "bins": bins}


@dataclass(frozen=True)
class Summary:
    """Everything a report stores: the figures, and per sample what the model said."""

    n: int
    accuracy: float
    loss: float  # mean cross-entropy (natural log), as in training's validation loss
    per_class: list[dict]  # precision, recall, f1, support, in class order
    macro: dict  # unweighted means of precision, recall, f1 over the classes present
    confusion_matrix: np.ndarray  # (K, K) int64, row = true class
    calibration: dict  # ece, n_bins, bins
    labels: np.ndarray  # (N,) uint8
    predicted: np.ndarray  # (N,) uint8, the top-1 class
    top_classes: np.ndarray  # (N, 3) uint8, most probable first
    top_probs: np.ndarray  # (N, 3) float32; top_probs[:, 0] is the confidence
    true_probs: np.ndarray  # (N,) float32, the probability given to the true class


def summarize(labels: np.ndarray, logits: np.ndarray, *, n_bins: int = ECE_BINS, top: int = TOP_K) -> Summary:
    labels = np.asarray(labels, dtype=np.int64)
    n, num_classes = np.shape(logits)
    if n == 0:
        raise ValueError("nothing to evaluate: the dataset has no images")
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} predictions")
    log_probs = log_softmax(logits)
    probs = np.exp(log_probs)
    rows = np.arange(n)
    # A stable sort puts the lower class first among equal probabilities, as argmax does.
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    predicted = order[:, 0]
    confidence = probs[rows, predicted]
    matrix = confusion_matrix(labels, predicted, num_classes)
    per_class = per_class_scores(matrix)
    return Summary(
        n=int(n),
        accuracy=int(np.trace(matrix)) / n,
        loss=float(-log_probs[rows, labels].mean()),
        per_class=per_class,
        macro=macro_means(per_class),
        confusion_matrix=matrix,
        calibration=calibration(confidence, predicted == labels, n_bins),
        labels=labels.astype(np.uint8),
        predicted=predicted.astype(np.uint8),
        top_classes=order.astype(np.uint8),
        top_probs=np.take_along_axis(probs, order, axis=1).astype(np.float32),
        true_probs=probs[rows, labels].astype(np.float32),
    )


# --- how sure a figure on a small set is ------------------------------------------------------

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
SIGNIFICANT = 0.05  # a drop is called real when chance alone gives one as large less often than this


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a proportion hits/n: unlike the normal
    approximation it stays inside [0, 1] and is honest at 0 or n hits, as on a handful of photos.
    (0, 1) for n == 0: nothing is known."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly."""
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n


def paired_drop_p(lost: int, gained: int) -> float:
    """One-sided exact McNemar test on the same images scored by two models: the chance of at
    least ``lost`` of the ``lost + gained`` images they disagree on going against the new model
    if both were as good. lost: right before, wrong now; gained: the other way round."""
    return _binomial_tail(lost, lost + gained) if lost + gained else 1.0


def unpaired_drop_p(hits_before: int, n_before: int, hits_now: int, n_now: int) -> float:
    """One-sided Fisher exact test for two sets of different images: the chance of as few hits
    now (or fewer) if both models were as good, given the hits of both together."""
    total_hits, n = hits_before + hits_now, n_before + n_now
    if n_before == 0 or n_now == 0:
        return 1.0
    low = max(0, total_hits - n_before)
    denominator = math.comb(n, total_hits)
    return sum(math.comb(n_now, k) * math.comb(n_before, total_hits - k) for k in range(low, hits_now + 1)) / denominator


def items_to_tell_paired(lost: int, gained: int, n: int) -> int | None:
    """About how many images in all (at the same rates of disagreement) would make a drop like
    this one significant (normal approximation of McNemar's test); None when there is no drop."""
    if lost <= gained or n == 0:
        return None
    drop, disagree = (lost - gained) / n, (lost + gained) / n
    return math.ceil(Z95 ** 2 * disagree / drop ** 2)


def items_to_tell_unpaired(p_before: float, p_now: float) -> int | None:
    """About how many images in each set would make a drop from p_before to p_now significant
    (normal approximation of the two-proportion test); None when there is no drop."""
    if p_now >= p_before:
        return None
    variance = p_before * (1 - p_before) + p_now * (1 - p_now)
    return math.ceil(Z95 ** 2 * max(variance, 1e-9) / (p_before - p_now) ** 2)
