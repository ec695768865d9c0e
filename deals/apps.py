from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DealsConfig(AppConfig):
    """Deal registration, conflicts and leads; adds the leads panel to the portal home."""

    name = "deals"
    verbose_name = _("Deals")

    def ready(self) -> None:
        from deals.lead_views import home_panel
        from prm.portal.panels import Panel, register

        register(
            Panel(key="leads", template="leads/_home_panel.html", context=home_panel, order=30)
        )
