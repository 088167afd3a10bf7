from django.apps import AppConfig


class DslConfig(AppConfig):
    name = "apps.dsl"
    verbose_name = "DSL"
