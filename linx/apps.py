from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_table(sender, using="default", **kwargs) -> None:
    # The default cache lives in the database (shared by the web process and the queue
    # workers); creating its table here means `migrate` is the only set-up step.
    from django.conf import settings
    from django.core.management import call_command

    if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        call_command("createcachetable", database=using, verbosity=0)


def _ensure_schedule_ticker(sender, **kwargs) -> None:
    from linx.sync.schedules import ensure_ticker

    ensure_ticker()


class LinxConfig(AppConfig):
    name = "linx"
    verbose_name = "Linx"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, sender=self)
        post_migrate.connect(_ensure_schedule_ticker, sender=self)
