"""Training to a time budget: the plan fits the measured speed, the schedule ends at the last
planned step, and a budget too small for one epoch is refused with the reason."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from dataset.fashion_mnist import DatasetNotFound, load_split
from engine import budget, training
from engine.config import PRESETS, ConfigError, TrainConfig, parse_budget
from tests.budgets import budget_for


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    try:
        split = load_split("train")
    except DatasetNotFound as exc:
        pytest.skip(str(exc))
    return {"train_images": split.images[:3200], "train_labels": split.labels[:3200],
            "val_images": split.images[-100:], "val_labels": split.labels[-100:]}


class Planned(Exception):
    """Raised from on_plan to stop a run once it has planned."""


@pytest.mark.parametrize("budget_s, step_s, batches, spent_s", [
    (120, 0.05, 430, 2.0), (600, 0.013, 430, 5.5), (30, 0.01, 100, 0.3), (86_400, 1.7, 430, 40.0), (64, 0.02, 3000, 0.0),
])
def test_a_plan_never_takes_more_steps_than_fit_the_measured_speed(budget_s, step_s, batches, spent_s):
    plan = budget.plan_for_budget(budget_s=budget_s, step_s=step_s, batches_per_epoch=batches, spent_s=spent_s)
    assert spent_s + plan.total_steps * step_s <= budget_s * budget.MARGIN
    assert spent_s + (plan.total_steps + 1) * step_s > budget_s * budget.MARGIN  # ...and uses what there is
    assert plan.epochs == math.ceil(plan.total_steps / batches) and plan.total_steps >= batches


def test_a_budget_too_small_for_one_epoch_is_refused_saying_how_long_one_takes():
    with pytest.raises(budget.BudgetTooSmall, match=r"too small: one epoch takes about 43 s .*Give at least 0.8 min"):
        budget.plan_for_budget(budget_s=30, step_s=0.1, batches_per_epoch=430, spent_s=1.0)


def test_the_schedule_ends_at_the_last_planned_step():
    preset = PRESETS["fast"]
    plan = budget.plan_for_budget(budget_s=100, step_s=0.05, batches_per_epoch=300)
    factors = [training.lr_factor(step, plan.total_steps, preset) for step in range(plan.total_steps + 1)]
    assert max(factors) == 1.0 and factors[-2] > 0 and factors[-1] == 0.0  # zero only after the last step
    assert plan.total_steps % plan.batches_per_epoch  # the last epoch is cut short, at that step


def test_a_budgeted_run_takes_exactly_its_planned_steps(images, tmp_path):
    few = {key: value[:1280] if key.startswith("train") else value for key, value in images.items()}
    # Room for the probe and about six epochs, more than twice what the plan needs for one.
    budget_s = budget_for(TrainConfig.for_preset("seed", epochs=1, batch_size=64, device="cpu"),
                          few["train_images"], few["train_labels"], epochs=6)
    config = TrainConfig.for_preset("seed", budget_s=budget_s, batch_size=64, device="cpu")
    plans, progress = [], []
    result = training.train(config, checkpoint_dir=tmp_path, on_plan=plans.append, on_progress=progress.append,
                            **few)
    plan = plans[0]  # then one more each time it re-planned (the machine's speed moved)
    assert plans[-1] == result.plan and plan.budget_s == budget_s and plan.step_s > 0 and plan.probe_s > 0
    assert plan.probe_s + plan.total_steps * plan.step_s <= budget_s * budget.MARGIN
    plan = result.plan
    assert plan.replans == len(plans) - 1
    assert len(progress) == plan.total_steps and progress[-1].step == progress[-1].steps == plan.total_steps
    assert progress[-1].fraction == 1.0 and len(result.epochs) == plan.epochs
    assert all(e.train_seconds is not None and 0 < e.train_seconds <= e.seconds for e in result.epochs)


def test_the_notebook_budget_is_measured_on_this_machine(images, tmp_path):
    config = TrainConfig.for_preset("fast", batch_size=64, device="cpu")
    assert config.budget_notebook and config.epochs is None  # the fast preset's own length
    plans = []

    def stop_once_planned(plan):
        plans.append(plan)
        raise Planned

    with pytest.raises(Planned):  # the notebook's ~9,400 steps always hold an epoch of 3,200 images
        training.train(config, checkpoint_dir=tmp_path, on_plan=stop_once_planned, **images)
    (plan,) = plans
    assert plan.notebook_s == plan.budget_s and plan.notebook_s > 10
    assert plan.total_steps * plan.step_s <= plan.notebook_s


def test_two_loops_are_timed_in_turn_so_that_both_see_the_same_machine():
    calls = []

    def sleeper(name, seconds):
        def step():
            calls.append(name)
            time.sleep(seconds)
        return step

    short, long = budget.paired_seconds_per_step([sleeper("a", 0.002), sleeper("b", 0.008)], steps=5, warmup=1)

    assert calls == ["a", "b"] * 6  # one untimed round, then five timed ones, taken in turn
    assert 0.002 <= short < long and long >= 0.008


def test_budgets_as_people_type_them():
    assert parse_budget("2") == {"budget_s": 120.0} and parse_budget("2.5m") == {"budget_s": 150.0}
    assert parse_budget("90s") == {"budget_s": 90.0} and parse_budget("Notebook") == {"budget_notebook": True}
    assert parse_budget("") == {}
    with pytest.raises(ConfigError, match="number of minutes"):
        parse_budget("soon")
    with pytest.raises(ConfigError, match="10 seconds to 24 hours"):
        TrainConfig.for_preset("seed", budget_s=5)
    with pytest.raises(ConfigError, match="not both"):
        TrainConfig.for_preset("seed", epochs=3, budget_s=60)
    assert TrainConfig.for_preset("fast", epochs=3).budget_notebook is False  # epochs given: no budget
    assert TrainConfig.for_preset("best").epochs == 30 and not TrainConfig.for_preset("best").has_budget


# --- re-planning when the worker's speed changes ---------------------------------------------


def _plan(**overrides) -> budget.Plan:
    values = dict(epochs=10, total_steps=1000, batches_per_epoch=100, budget_s=100.0, step_s=0.095, probe_s=0.0)
    return budget.Plan(**{**values, **overrides})


def test_a_run_that_fell_behind_its_plan_takes_fewer_steps_to_end_inside_the_budget():
    plan = _plan()
    # After epoch 2 (200 steps in 38 s) the worker runs at twice the probe's step time.
    new = budget.replan(plan, steps_done=200, train_s=38.0, step_s=0.19, factor=0.8)
    assert new is not None and new.total_steps < plan.total_steps and new.replans == 1
    assert 38.0 + (new.total_steps - 200) * 0.19 <= 100 * budget.MARGIN  # inside the budget again
    assert 38.0 + (new.total_steps - 199) * 0.19 > 100 * budget.MARGIN  # ...using what is left
    assert new.epochs == math.ceil(new.total_steps / 100) and (new.replanned_at, new.replanned_factor) == (200, 0.8)
    assert new.step_s == 0.19 and new.budget_s == plan.budget_s


def test_a_run_ahead_of_its_plan_trains_longer_and_one_on_plan_is_left_alone():
    plan = _plan()
    longer = budget.replan(plan, steps_done=500, train_s=25.0, step_s=0.05, factor=0.5)
    assert longer is not None and longer.total_steps > plan.total_steps
    assert 25.0 + (longer.total_steps - 500) * 0.05 <= 100 * budget.MARGIN
    assert budget.replan(plan, steps_done=500, train_s=47.5, step_s=0.096, factor=0.5) is None  # on plan
    assert budget.replan(budget.fixed_plan(TrainConfig.for_preset("seed", epochs=3), 100), steps_done=100,
                         train_s=999.0, step_s=9.0, factor=1.0) is None  # epochs, not a budget: no re-plan


def test_a_run_whose_budget_is_spent_stops_after_the_epoch_it_is_in():
    new = budget.replan(_plan(), steps_done=300, train_s=99.0, step_s=0.3, factor=0.7)  # past its MARGIN
    assert new.total_steps == 300 and new.epochs == 3  # never fewer steps than it has taken


def test_after_a_re_plan_the_learning_rate_falls_from_where_it_was_to_zero_at_the_new_last_step():
    preset = PRESETS["fast"]
    before = training.lr_factor(199, 1000, preset)
    resumed = (200, before)
    after = [training.lr_factor(step, 600, preset, resumed=resumed) for step in range(200, 601)]
    assert after[0] == pytest.approx(before)  # no jump
    assert all(a > b for a, b in zip(after, after[1:-1], strict=False)) and after[-2] > 0 and after[-1] == 0.0
    assert training.lr_factor(100, 600, preset, resumed=resumed) == training.lr_factor(100, 600, preset)


def test_a_budgeted_run_on_a_worker_that_slows_down_re_plans_and_stays_inside_its_budget(images, tmp_path):
    few = {key: value[:1280] if key.startswith("train") else value for key, value in images.items()}
    budget_s = budget_for(TrainConfig.for_preset("seed", epochs=1, batch_size=64, device="cpu"),
                          few["train_images"], few["train_labels"], epochs=5)
    config = TrainConfig.for_preset("seed", budget_s=budget_s, batch_size=64, device="cpu")
    plans, progress, epochs = [], [], []
    step_s = {}

    def busy_neighbours(p):  # from the second epoch on, every step takes twice the probe's time
        progress.append(p)
        if p.epoch >= 2:
            time.sleep(step_s["probe"])

    def on_plan(plan):
        plans.append(plan)
        step_s.setdefault("probe", plan.step_s)

    result = training.train(config, checkpoint_dir=tmp_path, on_plan=on_plan, on_progress=busy_neighbours,
                            on_epoch=lambda r, s: epochs.append(r), **few)
    first, last = plans[0], plans[-1]
    assert len(plans) >= 2 and last.replans == len(plans) - 1 and last.total_steps < first.total_steps
    # The run ends at its last plan's last step. That plan may have come after the last batch
    # (a re-plan after an epoch can stop the run there), so the last batch may still have been
    # counted against the plan before it.
    assert result.plan == last and progress[-1].step == last.total_steps
    assert progress[-1].steps in {plan.total_steps for plan in plans[-2:]}
    assert len(epochs) == last.epochs
    trained = sum(e.train_seconds for e in epochs)
    assert first.probe_s + trained <= budget_s * (budget.MARGIN + budget.REPLAN_OVER) + 2 * last.step_s
