from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncentivesConfig(AppConfig):
    """Commission plans, the commission job and earnings; adds the earnings panel
    to the portal home."""

    name = "incentives"
    verbose_name = _("Incentives")

    def ready(self) -> None:
        from incentives.views import home_panel
        from prm.portal.panels import Panel, register

        register(
            Panel(
                key="earnings",
                template="incentives/_home_panel.html",
                context=home_panel,
                order=40,
            )
        )
