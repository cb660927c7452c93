"""The API tokens page: each user's own tokens, created (shown once) and revoked."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from classifier.selectors import tokens as token_selectors
from classifier.services import tokens as token_services


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for: \"shop system\", \"my phone\".")


@login_required
def api_tokens(request):
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, raw = token_services.api_token_create(user=request.user, name=form.cleaned_data["name"])
        # Rendered, not redirected: the token is never stored, so this answer is the only time it exists.
        created = {"token": token, "raw": raw}
        form = TokenForm()
    return render(request, "classifier/api_tokens.html", {
        "form": form, "created": created, "tokens": token_selectors.api_tokens_of(user=request.user),
    })


@require_POST
@login_required
def api_token_revoke(request, token_id: int):
    token = token_selectors.api_token_get_for_user(token_id=token_id, user=request.user)
    if token_services.api_token_revoke(token=token):
        messages.success(request, f"Token {token.prefix}… is revoked: requests that send it now get 401.")
    return redirect("api_tokens")
