import uuid

from django.db import models

from codeai.api.authentication import ROLES


class ApiKey(models.Model):
    """An `X-API-Key` credential. Only a SHA-256 of the key is stored; the key is shown once."""

    ROLE_CHOICES = [(role, role) for role in ROLES]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, cai_{self.prefix}_…)"
