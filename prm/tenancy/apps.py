from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "prm.tenancy"
    label = "tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        from prm.tenancy.security import sync_after_migrate

        # Runs after every `migrate`, so tables added later get RLS too.
        post_migrate.connect(sync_after_migrate, dispatch_uid="prm.tenancy.sync")
