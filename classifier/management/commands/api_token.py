"""`manage.py api_token USERNAME`: a new API token for that user, printed as the last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from classifier.services.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for the user and print it (last line): it is stored hashed and never shown again."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py api_token", help="what the token is for (shown on the tokens page)")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is inactive; its tokens would be refused.")
        token, raw = api_token_create(user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… for {username} ({'staff' if user.is_staff else 'not staff'}); "
                          "copy it now, it is never shown again:")
        self.stdout.write(raw)
