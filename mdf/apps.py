from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MdfConfig(AppConfig):
    """Reserved for the mdf issue; registered now so its tables join the tenancy checks."""

    name = "mdf"
    verbose_name = _("Market development funds")
