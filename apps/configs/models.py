import uuid

from django.db import models


class Config(models.Model):
    """A stored `.cai` program, kept whatever its validity, with its compiled form."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    content = models.TextField()
    ast_json = models.JSONField(null=True, blank=True)
    validation_errors = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_valid(self) -> bool:
        return self.ast_json is not None and not self.validation_errors
