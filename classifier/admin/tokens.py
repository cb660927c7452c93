"""Admin: API tokens, read-only (only their hashes exist); staff can revoke any."""

from django.contrib import admin, messages

from classifier.models import ApiToken
from classifier.services import tokens as token_services


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("user", "name", "prefix", "digest", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # a token is shown once, to its owner: on the tokens page or by `manage.py api_token`

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = sum(token_services.api_token_revoke(token=token) for token in queryset)
        messages.success(request, f"{count} token(s) revoked.")
