"""engine.metrics against a case small enough to check by hand (see the numbers in comments)."""

import math

import numpy as np
import pytest

from engine import metrics

# Three classes, six samples. Predicted = most probable; "conf" = its probability.
#   sample  true  probabilities          predicted  conf  correct  ECE bin (of 15)
#   0       0     .70 .20 .10            0          .70   yes      10  (.667, .733]
#   1       0     .10 .62 .28            1          .62   no        9  (.600, .667]
#   2       1     .09 .82 .09            1          .82   yes      12  (.800, .867]
#   3       1     .05 .90 .05            1          .90   yes      13  (.867, .933]
#   4       2     .50 .30 .20            0          .50   no        7  (.467, .533]
#   5       2     .24 .24 .52            2          .52   yes       7
LABELS = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array([
    [0.70, 0.20, 0.10],
    [0.10, 0.62, 0.28],
    [0.09, 0.82, 0.09],
    [0.05, 0.90, 0.05],
    [0.50, 0.30, 0.20],
    [0.24, 0.24, 0.52],
])


@pytest.fixture
def summary():
    # log(p) are logits whose softmax is p again.
    return metrics.summarize(LABELS, np.log(PROBS))


def test_confusion_matrix_counts_true_rows_against_predicted_columns(summary):
    assert summary.confusion_matrix.tolist() == [
        [1, 1, 0],  # class 0: one right, one taken for 1
        [0, 2, 0],
        [1, 0, 1],  # class 2: one taken for 0, one right
    ]
    assert summary.predicted.tolist() == [0, 1, 1, 1, 0, 2]


def test_accuracy_and_loss(summary):
    assert summary.n == 6 and summary.accuracy == pytest.approx(4 / 6)
    expected_loss = -(math.log(0.70) + math.log(0.10) + math.log(0.82) + math.log(0.90) + math.log(0.20)
                      + math.log(0.52)) / 6
    assert summary.loss == pytest.approx(expected_loss)


def test_precision_recall_f1_and_support_per_class(summary):
    # precision = hits / column total, recall = hits / row total
    expected = [
        (1 / 2, 1 / 2, 1 / 2, 2),  # column 0 holds samples 0 and 4
        (2 / 3, 1.0, 0.8, 2),  # column 1 holds samples 1, 2, 3; F1 = 2·(2/3)·1 / (5/3)
        (1.0, 1 / 2, 2 / 3, 2),  # F1 = 2·1·½ / 1.5
    ]
    got = [(c["precision"], c["recall"], c["f1"], c["support"]) for c in summary.per_class]
    assert got == [tuple(pytest.approx(v) for v in row) for row in expected]
    assert summary.macro["f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_ece_weights_each_bins_gap_by_its_share_of_samples(summary):
    # bin 7: (.50 wrong, .52 right): |0.5 - 0.51| = .01, 2 samples; the others hold one sample
    # each with gaps |0 - .62|, |1 - .70|, |1 - .82|, |1 - .90|.
    expected = (2 / 6) * 0.01 + (1 / 6) * (0.62 + 0.30 + 0.18 + 0.10)
    calibration = summary.calibration
    assert calibration["ece"] == pytest.approx(expected)  # 0.20333...
    assert calibration["n_bins"] == 15 and len(calibration["bins"]) == 15
    counts = {i: b["count"] for i, b in enumerate(calibration["bins"]) if b["count"]}
    assert counts == {7: 2, 9: 1, 10: 1, 12: 1, 13: 1}
    bin7 = calibration["bins"][7]
    assert bin7["accuracy"] == pytest.approx(0.5) and bin7["confidence"] == pytest.approx(0.51)
    assert bin7["lower"] == pytest.approx(7 / 15) and bin7["upper"] == pytest.approx(8 / 15)


def test_top3_is_sorted_most_probable_first(summary):
    assert summary.top_classes[1].tolist() == [1, 2, 0]
    assert summary.top_probs[1] == pytest.approx([0.62, 0.28, 0.10])
    assert summary.true_probs == pytest.approx([0.70, 0.10, 0.82, 0.90, 0.20, 0.52])
    assert summary.top_classes.dtype == np.uint8 and summary.top_probs.dtype == np.float32


def test_a_class_never_predicted_has_zero_precision_not_nan():
    summary = metrics.summarize(np.array([0, 1]), np.log(np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])))
    assert [c["precision"] for c in summary.per_class][:2] == [0.5, 0.0]
    assert [c["support"] for c in summary.per_class] == [1, 1, 0]
    assert all(math.isfinite(c["f1"]) for c in summary.per_class[:2])


def test_a_class_absent_from_the_set_gets_no_score_and_no_share_of_the_macro_mean():
    # Class 2 has no images; the model predicts it once (for an image of class 1).
    logits = np.log(np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]))
    summary = metrics.summarize(np.array([0, 1, 1]), logits)
    assert summary.per_class[2] == {"precision": None, "recall": None, "f1": None, "support": 0}
    recalls = [c["recall"] for c in summary.per_class[:2]]
    assert recalls == [1.0, 0.5]
    assert summary.macro["recall"] == pytest.approx(0.75)  # over the two classes present, not (1 + .5 + 0) / 3


def test_ties_go_to_the_lower_class_as_argmax_does():
    summary = metrics.summarize(np.array([2]), np.zeros((1, 3)))
    assert summary.predicted.tolist() == [0] and summary.top_classes[0].tolist() == [0, 1, 2]


def test_confident_and_always_right_is_perfectly_calibrated():
    logits = np.full((4, 3), -50.0)
    logits[np.arange(4), [0, 1, 2, 0]] = 50.0
    summary = metrics.summarize(np.array([0, 1, 2, 0]), logits)
    assert summary.accuracy == 1.0 and summary.calibration["ece"] == pytest.approx(0.0, abs=1e-12)
    assert summary.calibration["bins"][14]["count"] == 4


def test_an_empty_set_is_an_error():
    with pytest.raises(ValueError, match="no images"):
        metrics.summarize(np.zeros(0, dtype=np.int64), np.zeros((0, 10)))


def test_wilson_intervals_match_hand_computed_values():
    # By hand: p = 0.8, z = 1.96: centre (0.8 + 0.19208) / 1.38415 = 0.71676; half-width
    # 1.96 * sqrt(0.016 + 0.0096040) / 1.38415 = 0.22660.
    low, high = metrics.wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # No hit in 5: the upper end is z² / (n + z²) = 3.8415 / 8.8415.
    assert metrics.wilson_interval(0, 5) == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert metrics.wilson_interval(5, 5) == pytest.approx((0.5655, 1.0), abs=1e-4)
    assert metrics.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = metrics.wilson_interval(900, 1000)
    assert high - low < 0.04  # a thousand images pin it down


def test_drop_tests_weigh_a_drop_against_how_many_images_say_so():
    assert metrics.paired_drop_p(5, 0) == pytest.approx(1 / 32)  # five lost, none gained: 1 in 32 by chance
    assert metrics.paired_drop_p(2, 1) == pytest.approx(0.5)
    assert metrics.paired_drop_p(0, 0) == 1.0
    # Fisher: 9/10 before, 5/10 now. P(now <= 5 | 14 hits in 20) = sum_k C(10,k) C(10,14-k) / C(20,14), k = 4, 5.
    expected = (math.comb(10, 4) * math.comb(10, 10) + math.comb(10, 5) * math.comb(10, 9)) / math.comb(20, 14)
    assert metrics.unpaired_drop_p(9, 10, 5, 10) == pytest.approx(expected)
    assert metrics.unpaired_drop_p(90, 100, 50, 100) < 1e-6
    # How many images would tell: 1.96² * (4/20) / (2/20)² = 76.8 -> 77.
    assert metrics.items_to_tell_paired(3, 1, 20) == 77
    assert metrics.items_to_tell_paired(1, 3, 20) is None
    assert metrics.items_to_tell_unpaired(0.9, 0.8) == math.ceil(1.959964 ** 2 * (0.09 + 0.16) / 0.01)


def test_wilson_interval_stays_inside_0_and_1_and_narrows_with_n():
    assert metrics.wilson_interval(0, 0) == (0.0, 1.0)  # nothing measured: nothing known
    low, high = metrics.wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)  # not [1, 1]: 10 of 10 is not certainty
    small = metrics.wilson_interval(8, 10)
    large = metrics.wilson_interval(8000, 10000)
    assert small[0] < 0.8 < small[1] and large[1] - large[0] < (small[1] - small[0]) / 10
    assert metrics.wilson_interval(45, 48) == pytest.approx((0.8316, 0.9785), abs=1e-4)  # by hand: 0.905 ± 0.073
