"""One job life cycle for runs, reports and prediction jobs (classifier.models.jobs)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _split_error(text: str) -> tuple[str, str]:
    """Old errors were "Type: message" and, after a blank line, the traceback."""
    head, _, rest = text.strip().partition("\n\n")
    return " ".join(head.split())[:1000], rest.strip()


def forwards(apps, schema_editor):
    """Keep every row: jobs already queued count as sent once, started ones as claimed once,
    a run's cancel flag becomes when it was asked for, and tracebacks move out of the
    one-line reason."""
    for name in ("TrainingRun", "EvaluationReport", "PredictionJob"):
        model = apps.get_model("classifier", name)
        model.objects.update(sends=1, sent_at=models.F("created_at"))
        model.objects.filter(started_at__isnull=False).update(attempts=1)
        for job in model.objects.exclude(error="").only("pk", "error"):
            error, detail = _split_error(job.error)
            model.objects.filter(pk=job.pk).update(error=error, error_detail=detail)
    runs = apps.get_model("classifier", "TrainingRun")
    for run in runs.objects.filter(cancel_requested=True):
        run.cancel_requested_at = run.finished_at or run.heartbeat_at or run.created_at
        run.save(update_fields=["cancel_requested_at"])
    predictions = apps.get_model("classifier", "PredictionJob")
    for job in predictions.objects.all().only("pk", "status", "done", "total"):
        progress = 1.0 if job.status == "succeeded" else (job.done / job.total if job.total else 0.0)
        predictions.objects.filter(pk=job.pk).update(progress=progress)


def backwards(apps, schema_editor):
    runs = apps.get_model("classifier", "TrainingRun")
    runs.objects.filter(cancel_requested_at__isnull=False).update(cancel_requested=True)
    for name in ("TrainingRun", "EvaluationReport", "PredictionJob"):
        model = apps.get_model("classifier", name)
        for job in model.objects.exclude(error_detail="").only("pk", "error", "error_detail"):
            model.objects.filter(pk=job.pk).update(error=f"{job.error}\n\n{job.error_detail}")


class Migration(migrations.Migration):

    dependencies = [
        ('classifier', '0006_photo_second_opinion'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='evaluationreport',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='times a worker claimed it'),
        ),
        migrations.AddField(
            model_name='evaluationreport',
            name='cancel_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='evaluationreport',
            name='cancelled_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='evaluationreport',
            name='error_detail',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='evaluationreport',
            name='sends',
            field=models.PositiveSmallIntegerField(default=0, help_text='messages sent for it so far'),
        ),
        migrations.AddField(
            model_name='evaluationreport',
            name='sent_at',
            field=models.DateTimeField(blank=True, help_text='when its message last went to the queue', null=True),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='times a worker claimed it'),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='cancel_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='cancelled_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='error_detail',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='progress',
            field=models.FloatField(default=0.0, help_text='0 to 1'),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='sends',
            field=models.PositiveSmallIntegerField(default=0, help_text='messages sent for it so far'),
        ),
        migrations.AddField(
            model_name='predictionjob',
            name='sent_at',
            field=models.DateTimeField(blank=True, help_text='when its message last went to the queue', null=True),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='times a worker claimed it'),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='cancel_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='cancelled_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='error_detail',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='sends',
            field=models.PositiveSmallIntegerField(default=0, help_text='messages sent for it so far'),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='sent_at',
            field=models.DateTimeField(blank=True, help_text='when its message last went to the queue', null=True),
        ),
        migrations.AlterField(
            model_name='evaluationreport',
            name='progress',
            field=models.FloatField(default=0.0, help_text='0 to 1'),
        ),
        migrations.AlterField(
            model_name='predictionjob',
            name='status',
            field=models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('succeeded', 'succeeded'), ('failed', 'failed'), ('cancelled', 'cancelled')], db_index=True, default='queued', max_length=16),
        ),
        migrations.AlterField(
            model_name='trainingrun',
            name='progress',
            field=models.FloatField(default=0.0, help_text='0 to 1'),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="trainingrun",
            name="cancel_requested",
        ),
    ]
