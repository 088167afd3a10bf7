from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import api_key_create
from codeai.api.authentication import ROLES


class Command(BaseCommand):
    help = "Create an X-API-Key credential. The key is printed once and cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", required=True, choices=ROLES)

    def handle(self, *args, name: str, role: str, **options):
        if not name.strip() or len(name) > 255:
            raise CommandError("--name must be 1-255 characters")
        api_key, raw_key = api_key_create(name=name, role=role)
        self.stderr.write(f"Created API key {api_key.id} '{name}' with role {role}.")
        self.stderr.write("Store it now: it is not shown again.")
        self.stdout.write(raw_key)
