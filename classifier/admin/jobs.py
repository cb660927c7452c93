"""What every job's admin shares: cancelling, through the same service as the job's page."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from classifier.services import jobs as job_services


@admin.action(description="Cancel selected (queued at once, running at the next batch)")
def cancel_jobs(modeladmin, request, queryset):
    asked = 0
    for job in queryset:
        if job.is_active:
            try:
                job_services.job_cancel(job=job, user=request.user)
            except PermissionDenied as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
                return
            asked += 1
    modeladmin.message_user(request, f"Cancel asked for {asked} of {queryset.count()} selected (the others had ended).")
