"""Admin: outgoing webhooks (staff add a URL per kind of event) and their deliveries, read-only."""

from django.contrib import admin

from classifier.models import Webhook, WebhookDelivery


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["-created_at"]
    fields = readonly_fields = ("created_at", "event", "status", "attempts", "response_status", "error",
                                "delivered_at", "next_attempt_at")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("event", "url", "is_active", "created_at")
    list_filter = ("event", "is_active")
    readonly_fields = ("secret", "created_by", "created_at")
    fields = ("event", "url", "is_active", "secret", "created_by", "created_at")
    inlines = [DeliveryInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("pk", "event", "webhook", "status", "attempts", "response_status", "created_at", "delivered_at")
    list_filter = ("status", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
