from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """The Django admin, replaced by the tenant- and role-scoped staff console."""

    default_site = "prm.console.site.ConsoleSite"
