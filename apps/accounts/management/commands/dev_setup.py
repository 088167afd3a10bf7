from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import token_issue


class Command(BaseCommand):
    help = "Development only: ensure an admin login and print a ready-to-use API token."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8080")
        parser.add_argument("--password", default="admin", help="admin password (dev only)")

    def handle(self, *args, port: str, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("dev_setup runs only with CODEAI_DEBUG=true")
        users = get_user_model()
        if not users.objects.filter(username="admin").exists():
            users.objects.create_superuser("admin", "admin@localhost", password)
        token = token_issue(subject="dev", roles=["admin"], ttl=timedelta(days=1))
        base = f"http://localhost:{port}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "CodeAI is starting (web + worker + beat).",
                    f"  API:    {base}   (also under {base}/api/v1/)",
                    f"  Admin:  {base}/admin/   user: admin   password: {password}",
                    f"  Docs:   {base}/docs",
                    "",
                    "Development token (admin role, valid 24h):",
                    f"  export CODEAI_TOKEN={token}",
                    "",
                    "Try:",
                    f"  curl {base}/health",
                    f'  curl -H "Authorization: Bearer $CODEAI_TOKEN" {base}/deployments',
                    "",
                ]
            )
        )
