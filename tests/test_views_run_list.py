"""The run list as an experiment table: search, filters, sort, paging, archive, notes and tags."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from classifier.models import JobStatus, Tag, TrainingRun
from classifier.selectors.runs import RunFilters, runs_for_list
from classifier.services import training as training_services
from tests.factories import (
    CheckpointFactory,
    EpochLogFactory,
    EvaluationReportFactory,
    PromotionFactory,
    StaffFactory,
    TrainingRunFactory,
    UserFactory,
    tiny_config,
)


def _ids(filters: RunFilters) -> list[int]:
    return [run.pk for run in runs_for_list(filters=filters)]


def _tag(run, *names):
    run.tags.set([Tag.objects.get_or_create(name=name)[0] for name in names])
    return run


def _shown_run_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="run-row[^"]*" data-run="(\d+)"', page)]


@pytest.fixture
def three_runs(db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a = _tag(TrainingRunFactory(created_by=alice, note="baseline on all images", status=JobStatus.SUCCEEDED), "baseline")
    b = _tag(TrainingRunFactory(created_by=bob, note="try a lower learning rate",
                                config=tiny_config(preset="fast").to_dict(), status=JobStatus.FAILED), "lr-sweep")
    c = _tag(TrainingRunFactory(created_by=bob, note="", status=JobStatus.RUNNING), "lr-sweep", "baseline")
    return a, b, c


def test_search_matches_note_tags_preset_and_who_started_it(three_runs):
    a, b, c = three_runs
    assert _ids(RunFilters(q="LEARNING")) == [b.pk]  # the note, any case
    assert set(_ids(RunFilters(q="baseline"))) == {a.pk, c.pk}  # a's note and tag, c's tag
    assert _ids(RunFilters(q="fast")) == [b.pk]  # the preset
    assert set(_ids(RunFilters(q="bob"))) == {b.pk, c.pk}  # who started it
    assert _ids(RunFilters(q="bob baseline")) == [c.pk]  # every word must match
    assert _ids(RunFilters(q=f"#{a.pk}")) == [a.pk]
    assert _ids(RunFilters(q="nothing-like-this")) == []


def test_filters_by_status_preset_and_tag(three_runs):
    a, b, c = three_runs
    assert _ids(RunFilters(status=JobStatus.FAILED)) == [b.pk]
    assert set(_ids(RunFilters(preset="seed"))) == {a.pk, c.pk}
    assert set(_ids(RunFilters(tag="lr-sweep"))) == {b.pk, c.pk}
    assert _ids(RunFilters(tag="lr")) == []  # a tag filter is exact, not a substring


def test_the_page_reads_filters_from_the_url_and_ignores_unknown_ones(user_client, three_runs):
    a, b, c = three_runs
    page = user_client.get(reverse("run_list"), {"q": "baseline", "status": "running"}).content.decode()
    assert _shown_run_ids(page) == [c.pk]
    page = user_client.get(reverse("run_list"), {"status": "bogus", "sort": "nonsense", "archived": "x"}).content.decode()
    assert set(_shown_run_ids(page)) == {a.pk, b.pk, c.pk}
    empty = user_client.get(reverse("run_list"), {"q": "zzz"}).content.decode()
    assert "No run matches" in empty


def test_sorts_by_any_column_with_blanks_last(db):
    low, high, unscored = TrainingRunFactory(), TrainingRunFactory(), TrainingRunFactory()
    EpochLogFactory(run=low, epoch=1, val_acc=0.70)
    EpochLogFactory(run=high, epoch=1, val_acc=0.90)
    for run, accuracy in ((low, 0.71), (high, 0.88)):
        EvaluationReportFactory(checkpoint=CheckpointFactory(run=run), status=JobStatus.SUCCEEDED,
                                accuracy=accuracy, n_samples=10000)
    assert _ids(RunFilters(sort="-val")) == [high.pk, low.pk, unscored.pk]
    assert _ids(RunFilters(sort="val")) == [low.pk, high.pk, unscored.pk]
    assert _ids(RunFilters(sort="-test")) == [high.pk, low.pk, unscored.pk]
    assert _ids(RunFilters(sort="test")) == [low.pk, high.pk, unscored.pk]
    assert _ids(RunFilters(sort="id")) == [low.pk, high.pk, unscored.pk]
    now = timezone.now()
    TrainingRun.objects.filter(pk=low.pk).update(started_at=now - timedelta(minutes=5), finished_at=now)
    TrainingRun.objects.filter(pk=high.pk).update(started_at=now - timedelta(minutes=1), finished_at=now)
    assert _ids(RunFilters(sort="-duration")) == [low.pk, high.pk, unscored.pk]
    assert _ids(RunFilters(sort="duration")) == [high.pk, low.pk, unscored.pk]


def test_every_sort_key_works_on_the_page(user_client, three_runs):
    for key in ("id", "preset", "status", "progress", "val", "test", "photos", "duration", "by", "created"):
        for sort in (key, f"-{key}"):
            response = user_client.get(reverse("run_list"), {"sort": sort})
            assert response.status_code == 200 and len(_shown_run_ids(response.content.decode())) == 3


def test_sort_links_keep_the_search_and_reverse_the_current_order(user_client, three_runs):
    page = user_client.get(reverse("run_list"), {"q": "bob", "sort": "-val"}).content.decode()
    link = re.search(r'<a href="([^"]+)" class="sort" data-sort="val">', page).group(1)
    assert "q=bob" in link and "sort=val" in link and "sort=-val" not in link


def test_the_list_shows_test_and_photo_accuracy_with_n_and_marks_the_active_model_and_parents(user_client):
    parent_run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    parent = CheckpointFactory(run=parent_run, epoch=3)
    EvaluationReportFactory(checkpoint=parent, status=JobStatus.SUCCEEDED, accuracy=0.9123, n_samples=10000)
    EvaluationReportFactory(checkpoint=parent, dataset_name="photos", status=JobStatus.SUCCEEDED, accuracy=0.5,
                            n_samples=48)
    child = TrainingRunFactory(parent_checkpoint=parent)
    PromotionFactory(checkpoint=parent)
    page = user_client.get(reverse("run_list")).content.decode()
    assert "91.23 %" in page and "n=10000" in page and "50.00 %" in page and "n=48" in page
    parent_row = page[page.index(f'data-run="{parent_run.pk}"'):]
    assert "active model" in parent_row[:parent_row.index("</tr>")]
    child_row = page[page.index(f'data-run="{child.pk}"'):]
    assert f"fine-tune of <a href=\"{reverse('run_detail', args=[parent_run.pk])}\">#{parent_run.pk}</a>" in \
        child_row[:child_row.index("</tr>")]


def test_the_list_pages_and_its_links_keep_the_filters(user_client, db):
    runs = [TrainingRunFactory(note="sweep") for _ in range(27)]
    first = user_client.get(reverse("run_list"), {"q": "sweep"}).content.decode()
    assert len(_shown_run_ids(first)) == 25 and "page 1 of 2" in first
    assert "?q=sweep&amp;page=2" in first
    second = user_client.get(reverse("run_list"), {"q": "sweep", "page": 2}).content.decode()
    assert set(_shown_run_ids(second)) == {runs[0].pk, runs[1].pk}


def test_the_list_costs_the_same_queries_for_few_runs_as_for_many(user_client, django_assert_num_queries):
    def one_page_of(n: int) -> int:
        for _ in range(n):
            run = _tag(TrainingRunFactory(status=JobStatus.SUCCEEDED), "baseline", "sweep")
            EpochLogFactory(run=run, epoch=1)
            checkpoint = CheckpointFactory(run=run)
            EvaluationReportFactory(checkpoint=checkpoint, status=JobStatus.SUCCEEDED, accuracy=0.9, n_samples=10)
        with CaptureQueriesContext(connection) as queries:
            assert user_client.get(reverse("run_list")).status_code == 200
        return len(queries)

    few = one_page_of(2)
    many = one_page_of(15)
    assert few == many == 10
    # session, user, count, the page of runs, their checkpoints, their tags, the active model
    # (promotion, then the best checkpoint), the presets and tags for the filters.
    with django_assert_num_queries(few):
        user_client.get(reverse("run_list"))


def test_the_live_fragment_polls_while_a_run_on_the_page_is_active(user_client, db):
    TrainingRunFactory(status=JobStatus.SUCCEEDED)
    idle = user_client.get(reverse("run_list_live")).content.decode()
    assert 'data-active="0"' in idle
    running = TrainingRunFactory(status=JobStatus.RUNNING, progress=0.5, epochs_done=1)
    live = user_client.get(reverse("run_list_live")).content.decode()
    assert 'data-active="1"' in live and f'data-run="{running.pk}"' in live and "1/2" in live


def test_archived_runs_are_hidden_by_default_and_kept(user_client, db):
    kept, archived = TrainingRunFactory(status=JobStatus.SUCCEEDED), TrainingRunFactory(status=JobStatus.SUCCEEDED)
    training_services.training_run_archive(run=archived, user=archived.created_by, archived=True)
    assert _ids(RunFilters()) == [kept.pk]
    assert _ids(RunFilters(archived="only")) == [archived.pk]
    assert set(_ids(RunFilters(archived="include"))) == {kept.pk, archived.pk}
    assert user_client.get(reverse("run_detail", args=[archived.pk])).status_code == 200


def test_owner_and_staff_archive_others_are_refused(client, db):
    owner, other, staff = UserFactory(), UserFactory(), StaffFactory()
    run = TrainingRunFactory(created_by=owner, status=JobStatus.SUCCEEDED)
    url = reverse("run_archive", args=[run.pk])

    client.force_login(other)
    assert client.post(url, {"archived": "1"}).status_code == 403
    assert client.get(url).status_code == 405  # only POST changes anything
    run.refresh_from_db()
    assert run.archived_at is None

    client.force_login(owner)
    assert client.post(url, {"archived": "1"}).status_code == 302
    run.refresh_from_db()
    assert run.is_archived and run.archived_by == owner

    client.force_login(staff)
    assert client.post(url, {"archived": "0", "next": "https://evil.example/"})["Location"] == \
        reverse("run_detail", args=[run.pk])
    run.refresh_from_db()
    assert not run.is_archived


def test_archiving_needs_a_csrf_token(db):
    from django.test import Client

    owner = UserFactory()
    run = TrainingRunFactory(created_by=owner, status=JobStatus.SUCCEEDED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(reverse("run_archive", args=[run.pk]), {"archived": "1"}).status_code == 403
    run.refresh_from_db()
    assert not run.is_archived


def test_an_active_run_is_not_archived(client, db):
    run = TrainingRunFactory(status=JobStatus.RUNNING)
    client.force_login(run.created_by)
    client.post(reverse("run_archive", args=[run.pk]), {"archived": "1"})
    run.refresh_from_db()
    assert not run.is_archived


def test_owner_edits_note_and_tags_others_cannot(client, db):
    owner, other = UserFactory(), UserFactory()
    run = TrainingRunFactory(created_by=owner)
    url = reverse("run_describe", args=[run.pk])
    client.force_login(other)
    assert client.post(url, {"note": "mine now", "tags": "x"}).status_code == 403
    assert "describe-form" not in client.get(reverse("run_detail", args=[run.pk])).content.decode()

    client.force_login(owner)
    assert "describe-form" in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    client.post(url, {"note": "  lower lr  ", "tags": "Baseline, LR sweep, baseline"})
    run.refresh_from_db()
    assert run.note == "lower lr" and sorted(t.name for t in run.tags.all()) == ["baseline", "lr-sweep"]
    client.post(url, {"note": "lower lr", "tags": "!!!"})  # refused whole: the tags stay
    assert sorted(t.name for t in run.tags.all()) == ["baseline", "lr-sweep"]
    assert set(_ids(RunFilters(tag="lr-sweep"))) == {run.pk}


def test_tags_parse():
    assert training_services.tags_parse(" Baseline ,, lr sweep,baseline ") == ["baseline", "lr-sweep"]
    with pytest.raises(Exception, match="not a usable tag"):
        training_services.tags_parse("ok, ???")
    with pytest.raises(Exception, match="at most"):
        training_services.tags_parse(",".join(f"t{i}" for i in range(20)))


def test_queued_and_cancel_messages_are_marked_to_go_once_the_run_moves_on(staff_client, sent_tasks,
                                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("run_new"), {"preset": "seed", "epochs": "1", "device": "auto"},
                                     follow=True)
    page = response.content.decode()
    assert re.search(r'class="message [^"]*while-queued', page)  # live.js drops it once the status is not queued
    run = TrainingRun.objects.get()
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING)
    page = staff_client.post(reverse("job_cancel", args=["run", run.pk]), follow=True).content.decode()
    assert "while-active" in page and "cancel requested" in page


def test_the_admin_lists_filters_and_shows_tags(staff_client, db):
    staff_client.force_login(StaffFactory(is_superuser=True))
    run = _tag(TrainingRunFactory(status=JobStatus.SUCCEEDED), "baseline")
    changelist = staff_client.get(reverse("admin:classifier_trainingrun_changelist"), {"tags__id__exact": run.tags.get().pk})
    assert changelist.status_code == 200 and f"{run.pk}" in changelist.content.decode()
    change = staff_client.get(reverse("admin:classifier_trainingrun_change", args=[run.pk]))
    assert change.status_code == 200 and "baseline" in change.content.decode()


def test_rows_served_from_the_cache_change_as_soon_as_anything_they_show_does(client, db):
    staff = StaffFactory()
    client.force_login(staff)
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, created_by=staff)
    first = CheckpointFactory(run=run, epoch=1, val_acc=0.9)
    client.get(reverse("run_list"))  # drawn once, now cached
    row = lambda page: re.search(rf'data-run="{run.pk}".*?</tr>', page, re.S).group(0)  # noqa: E731

    CheckpointFactory(run=run, epoch=2, val_acc=0.91)  # a related row: the run's own columns unchanged
    assert "epoch 2" in row(client.get(reverse("run_list")).content.decode())
    _tag(run, "lr-sweep")
    shown = row(client.get(reverse("run_list")).content.decode())
    assert "lr-sweep" in shown and "predicts photos" in shown  # the best checkpoint, none promoted yet
    PromotionFactory(checkpoint=first)  # another table: the active model
    shown = row(client.get(reverse("run_list")).content.decode())
    assert "active model" in shown and "predicts photos" not in shown
    TrainingRun.objects.filter(pk=run.pk).update(note="a quieter learning rate")
    assert "a quieter learning rate" in row(client.get(reverse("run_list")).content.decode())
    # Another user sees no archive button for a run not theirs: rights are part of the row too.
    client.force_login(UserFactory())
    assert "archive-button" not in row(client.get(reverse("run_list")).content.decode())
