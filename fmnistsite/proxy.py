"""The client's address, for login throttling (django-axes' AXES_CLIENT_IP_CALLABLE)."""

from django.conf import settings


def client_ip(request) -> str:
    """Behind the documented HTTPS proxy every request comes from the proxy: the client is the
    last address in X-Forwarded-For, the one the proxy itself added (earlier ones are whatever
    the client sent, so they can't be trusted). Without the proxy: the connection's address."""
    if settings.BEHIND_HTTPS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")
