from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnablementConfig(AppConfig):
    """Reserved for the enablement issue; registered now so its tables join the tenancy checks."""

    name = "enablement"
    verbose_name = _("Enablement")
