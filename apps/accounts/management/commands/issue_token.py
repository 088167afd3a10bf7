from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import token_issue
from codeai.api.authentication import ROLES
from codeai.api.durations import parse_duration


class Command(BaseCommand):
    help = "Mint a JWT for the API (development, automation). Needs no database."

    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--sub", required=True, help="subject (who the token is for)")
        parser.add_argument(
            "--roles", default="viewer", help="comma-separated: viewer,editor,admin"
        )
        parser.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 7d")

    def handle(self, *args, sub: str, roles: str, ttl: str, **options):
        role_list = [r for r in roles.replace(",", " ").split() if r]
        unknown = [r for r in role_list if r not in ROLES]
        if unknown or not role_list:
            raise CommandError(f"--roles must be among: {' '.join(ROLES)}")
        try:
            lifetime = parse_duration(ttl)
        except ValueError as exc:
            raise CommandError(f"--ttl: {exc} (use e.g. 30m, 1h, 7d)") from exc
        self.stdout.write(token_issue(subject=sub, roles=role_list, ttl=lifetime))
