"""`manage.py ensure_staff_user`: the first staff account, made once, its password shown once."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand

from classifier.services.accounts import staff_user_ensure


class Command(BaseCommand):
    help = ("Create a staff user (a superuser) if there is none yet and print its password, once; do nothing "
            "when one exists. The password is $ADMIN_PASSWORD, or generated.")

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("ADMIN_USER") or "admin")
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL") or "admin@example.com")
        parser.add_argument("--credentials-file", type=Path,
                            help="also write the user name and password to this file (readable by its owner only)")

    def handle(self, *args, **options):
        # Not an option: a password on the command line shows in `ps` and in shell history.
        password = staff_user_ensure(username=options["username"], email=options["email"],
                                     password=os.environ.get("ADMIN_PASSWORD") or None)
        if password is None:
            return
        where = ""
        if options["credentials_file"]:
            path = options["credentials_file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(f"user: {options['username']}\npassword: {password}\n")
            where = f" (also in {path})"
        self.stdout.write(f"Created the staff user '{options['username']}' with password: {password}{where}")
