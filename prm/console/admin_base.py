"""Base classes for console registrations: capabilities instead of model permissions.

A ``ConsoleModelAdmin`` declares which capability (``prm.accounts.roles``)
lets a staff member view, add, change or delete its objects; Django's model
permissions are never consulted, so roles stay the single source of truth.
A capability may be one ``Capability`` or a tuple (any of them grants it);
``None`` means nobody.

It also keeps tenant data out of global tables and behaves like the rest of the
product:

* Django's ``LogEntry`` (a global table) is never written; additions, changes
  and deletions made in the console become ``AuditEvent`` rows of the tenant,
  and an object's "History" page lists those.
* A missing object (including another tenant's: the fail-closed manager
  hides it) is a 404, not a redirect to the index.
* Workflow views (assign a tier, invite someone, create an API key) are forms
  that call a service; ``service_form_view`` renders them and turns a
  ``DomainError`` into a form error, ``report_domain_error`` into a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Capability, can
from prm.audit.models import AuditEvent
from prm.audit.services import record
from prm.errors import DomainError
from prm.tenancy.context import require_tenant

if TYPE_CHECKING:
    from django.contrib.admin.options import BaseModelAdmin
    from django_stubs_ext import StrOrPromise

    # The mixin below is only ever combined with a ModelAdmin or an inline.
    _AdminBase = BaseModelAdmin[Any]
else:
    _AdminBase = object

CapabilitySpec = Capability | tuple[Capability, ...] | None


def has_capability(request, spec: CapabilitySpec) -> bool:
    if spec is None:
        return False
    membership = getattr(request, "membership", None)
    capabilities = (spec,) if isinstance(spec, Capability) else spec
    return any(can(membership, capability) for capability in capabilities)


def apply_domain_error(form: forms.BaseForm, exc: DomainError) -> None:
    """Show a service's refusal on the form: on its field when the form has it."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc.message))


class TenantModelForm(forms.ModelForm):
    """ModelForm for tenant-owned rows: uniqueness is checked within the tenant.

    ``tenant`` is never a form field, so Django would skip every unique
    constraint that starts with it and let the database answer with an
    IntegrityError (a 500). The form fills in the active tenant and keeps it
    in the validation, so a duplicate key is a form error instead.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self.instance, "tenant_id", None) is None:
            self.instance.tenant = require_tenant()

    def _get_validation_exclusions(self):
        # Private Django API, missing from django-stubs.
        exclude = super()._get_validation_exclusions()  # type: ignore[misc]
        exclude.discard("tenant")
        return exclude


class CapabilityPermissionsMixin(_AdminBase):
    """has_*_permission from declared capabilities (shared by admins and inlines)."""

    view_capability: CapabilitySpec = None
    add_capability: CapabilitySpec = None
    change_capability: CapabilitySpec = None
    delete_capability: CapabilitySpec = None

    def has_view_permission(self, request, obj=None) -> bool:
        return has_capability(request, self.view_capability) or self.has_change_permission(
            request, obj
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return has_capability(request, self.change_capability)

    def has_delete_permission(self, request, obj=None) -> bool:
        return has_capability(request, self.delete_capability)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request) or self.has_add_permission(request)


class ConsoleModelAdmin(CapabilityPermissionsMixin, admin.ModelAdmin):
    """A tenant-scoped console registration; subclasses declare capabilities."""

    form = TenantModelForm
    # True when save_model/delete_model call services, which audit themselves.
    audited_by_service = False

    def has_add_permission(self, request) -> bool:
        return has_capability(request, self.add_capability)

    # --- missing objects are 404s ---------------------------------------
    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(_("%(name)s not found.") % {"name": capfirst(self.opts.verbose_name)})
        return obj

    # --- audit instead of LogEntry -----------------------------------------
    def _audit(self, request, obj, verb: str, data: dict[str, Any] | None = None) -> AuditEvent:
        return record(
            actor=request.user,
            action=f"{self.opts.model_name}.{verb}",
            target=obj,
            summary=str(obj),
            data={"via": "console", **(data or {})},
        )

    def log_addition(self, request, obj, message):
        if not self.audited_by_service:
            self._audit(request, obj, "created", {"changes": message})

    def log_change(self, request, obj, message):
        if not self.audited_by_service:
            self._audit(request, obj, "changed", {"changes": message})

    def log_deletions(self, request, queryset):
        if not self.audited_by_service:
            for obj in queryset:
                self._audit(request, obj, "deleted")

    # --- services refuse: a message, never a 500 ---------------------------
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            # The form validated, yet the service refused (e.g. a concurrent
            # duplicate): the savepoint is rolled back; show why and reload.
            self.report_domain_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.report_domain_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())

    @staticmethod
    def adopt(obj, saved) -> None:
        """Make the admin's unsaved instance the row a service created."""
        obj.__dict__.update(saved.__dict__)

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        events = (
            AuditEvent.objects.filter(object_type=self.opts.label_lower, object_id=str(obj.pk))
            .select_related("actor")
            .order_by("-created_at", "-id")
        )
        page = Paginator(events, 100).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("History: %(object)s") % {"object": obj},
            "subtitle": None,
            "events": page,
            "object": obj,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "console/object_history.html", context)

    # --- workflow views ---------------------------------------------------
    def console_url(self, name: str, *args) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    def report_domain_error(self, request, exc: DomainError) -> None:
        self.message_user(request, str(exc.message), messages.ERROR)

    def service_form_view(
        self,
        request,
        *,
        form_class: type[forms.BaseForm],
        title: StrOrPromise,
        perform: Callable[[Any], HttpResponse],
        obj=None,
        form_kwargs: dict[str, Any] | None = None,
        submit_label: StrOrPromise | None = None,
        intro: StrOrPromise = "",
    ) -> HttpResponse:
        """Render ``form_class``; a valid POST calls ``perform(form)``, which calls
        a service and returns the response (usually a redirect)."""
        form_kwargs = form_kwargs or {}
        if request.method == "POST":
            form = form_class(request.POST, **form_kwargs)
            if form.is_valid():
                try:
                    return perform(form)
                except DomainError as exc:
                    apply_domain_error(form, exc)
        else:
            form = form_class(**form_kwargs)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "form": form,
            "original": obj,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "submit_label": submit_label or _("Save"),
            "intro": intro,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request, obj),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "console/service_form.html", context)


class ReadOnlyConsoleAdmin(ConsoleModelAdmin):
    """Records nobody edits in the console (histories, job runs, audit)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyConsoleInline(CapabilityPermissionsMixin, admin.TabularInline):
    """An inline shown to whoever may view it, never edited from the parent form."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
