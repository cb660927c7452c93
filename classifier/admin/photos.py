"""Admin: photos (read-mostly; labels change through the same service as the gallery), their
corrections (read-only history), preparation jobs and prediction jobs (staff can queue one for all photos)."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from classifier.admin.jobs import cancel_jobs
from classifier.models import LabelCorrection, LabelIssueJob, Photo, PredictionJob, PredictionScope, PreparationJob
from classifier.services import photos as photo_services


class LabelCorrectionInline(admin.TabularInline):
    model = LabelCorrection
    fk_name = "photo"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "user", "from_label", "to_label", "reverts", "source")

    def has_add_permission(self, request, obj=None):
        return False


class PhotoAdminForm(forms.ModelForm):
    class Meta:
        model = Photo
        fields = ["label"]


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    form = PhotoAdminForm
    list_display = ("id", "thumb", "original_name", "predicted_label", "confidence", "label", "uploaded_by",
                    "created_at")
    list_filter = ("state", "label", "predicted_label", "preprocess_version")
    search_fields = ("id", "original_name", "sha256")
    inlines = [LabelCorrectionInline]
    readonly_fields = ("thumb", "state", "preparation_error", "original_name", "width", "height", "sha256",
                       "preprocess_version", "uploaded_by",
                       "created_at", "predicted_label", "confidence", "predicted_by", "predicted_at",
                       "labelled_by", "labelled_at")
    actions = ["delete_photos"]

    @admin.display(description="photo")
    def thumb(self, photo):
        return format_html('<a href="{}"><img src="{}" style="max-height:64px"></a>',
                           reverse("photo_detail", args=[photo.pk]), reverse("photo_thumbnail", args=[photo.pk]))

    def has_add_permission(self, request):
        return False  # photos come in through the upload page or `manage.py import_photos`

    def save_model(self, request, obj, form, change):
        """A label set here is a correction like any other."""
        if "label" in form.changed_data:
            photo = Photo.objects.get(pk=obj.pk)
            photo_services.photo_label_set(photo=photo, label=form.cleaned_data["label"], user=request.user,
                                           source="admin")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the files behind
        return actions

    @admin.action(description="Delete selected photos (and their files)", permissions=["delete"])
    def delete_photos(self, request, queryset):
        count = photo_services.photos_delete(photos=queryset)
        self.message_user(request, f"Deleted {count} photo(s).")

    def delete_model(self, request, obj):
        photo_services.photos_delete(photos=[obj])


@admin.register(LabelCorrection)
class LabelCorrectionAdmin(admin.ModelAdmin):
    list_display = ("id", "photo", "user", "created_at", "from_label", "to_label", "reverts", "source")
    list_filter = ("to_label", "source")
    search_fields = ("photo__id", "user__username")
    readonly_fields = [f.name for f in LabelCorrection._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PredictionJob)
class PredictionJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "scope", "checkpoint", "done", "total", "requested_by", "created_at",
                    "finished_at")
    list_filter = ("status", "scope")
    readonly_fields = [f.name for f in PredictionJob._meta.fields]
    actions = ["predict_all_again", cancel_jobs]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Predict all photos again with the same checkpoint as the selected job")
    def predict_all_again(self, request, queryset):
        for job in queryset.select_related("checkpoint"):
            if job.checkpoint is None:
                self.message_user(request, f"Job #{job.pk} has no checkpoint any more.", messages.WARNING)
                continue
            new = photo_services.photos_predict(scope=PredictionScope.ALL, checkpoint=job.checkpoint,
                                                user=request.user)
            self.message_user(request, f"Prediction job #{new.pk} queued.")


@admin.register(PreparationJob)
class PreparationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "done", "total", "requested_by", "created_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in PreparationJob._meta.fields]
    actions = [cancel_jobs]

    def has_add_permission(self, request):
        return False


@admin.register(LabelIssueJob)
class LabelIssueJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "checkpoint", "base_checkpoint", "folds", "total", "suspects", "requested_by",
                    "created_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in LabelIssueJob._meta.fields]
    actions = [cancel_jobs]

    def has_add_permission(self, request):
        return False
