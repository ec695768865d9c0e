from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncentivesConfig(AppConfig):
    """Reserved for the incentives issue; registered now so its tables join the tenancy checks."""

    name = "incentives"
    verbose_name = _("Incentives")
