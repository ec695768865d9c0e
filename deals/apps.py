from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DealsConfig(AppConfig):
    """Reserved for the deals issue; registered now so its tables join the tenancy checks."""

    name = "deals"
    verbose_name = _("Deals")
