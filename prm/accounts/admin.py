"""Console registrations for people and access; the platform's login admin.

In a tenant's console: memberships (staff management and partner users —
people join only through an invitation, and lose access through
``set_membership_active``), invitations (read-only, revocable) and API keys
(created through ``create_api_key``, shown once). Every write calls a service
of ``prm.accounts.services``, which checks the role and writes the audit row.

On the platform site: logins (``User``), for platform operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from partners.models import PartnerOrganization
from partners.selectors import memberships_visible_to
from prm.accounts.models import ApiKey, Invitation, Membership, User
from prm.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Capability, Role
from prm.accounts.services import (
    create_api_key,
    invite_user,
    revoke_api_key,
    revoke_invitation,
    set_membership_active,
)
from prm.console.admin_base import ReadOnlyConsoleAdmin, has_capability
from prm.console.site import platform_site
from prm.errors import DomainError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PEOPLE_CAPABILITIES = (Capability.MANAGE_STAFF, Capability.INVITE_ANY_PARTNER_USER)


def _invitable_roles(request) -> list[tuple[str, StrOrPromise]]:
    roles: list[tuple[str, StrOrPromise]] = []
    if has_capability(request, Capability.MANAGE_STAFF):
        roles += [(r.value, r.label) for r in Role if r in STAFF_ROLES]
    if has_capability(request, Capability.INVITE_ANY_PARTNER_USER):
        roles += [(r.value, r.label) for r in Role if r in PARTNER_ROLES]
    return roles


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"))
    partner: forms.ModelChoiceField[PartnerOrganization] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=_("Partner organisation"),
        help_text=_("Required for partner roles; leave empty for staff."),
    )

    def __init__(self, *args, roles, **kwargs):
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        partner_field = self.fields["partner"]
        assert isinstance(role_field, forms.ChoiceField)
        assert isinstance(partner_field, forms.ModelChoiceField)
        role_field.choices = roles
        partner_field.queryset = PartnerOrganization.objects.order_by("legal_name")


class ConfirmForm(forms.Form):
    """No fields: the POST itself is the confirmation."""


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses the key, e.g. “CRM sync”."),
    )
    role = forms.ChoiceField(
        label=_("Acts as"),
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES],
        initial=Role.CHANNEL_MANAGER,
    )


def _run_per_object(modeladmin, request, queryset, service, done_message) -> None:
    """Call ``service(obj)`` for each selected object; report refusals one by one.

    ``done_message(count)`` says how many succeeded (pluralised by the caller)."""
    done = 0
    for obj in queryset:
        try:
            service(obj)
        except DomainError as exc:
            modeladmin.message_user(
                request,
                _("%(object)s: %(error)s") % {"object": obj, "error": exc.message},
                messages.ERROR,
            )
        else:
            done += 1
    if done:
        modeladmin.message_user(request, done_message(done), messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyConsoleAdmin):
    """People with access to this tenant: staff (tenant admins) and partner users."""

    view_capability = PEOPLE_CAPABILITIES
    list_display = ("user_email", "user_name", "role", "partner", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__email", "user__full_name", "partner__legal_name")
    list_select_related = ("user", "partner")
    fields = ("user", "role", "partner", "is_active", "created_at")
    readonly_fields = fields
    actions = ["deactivate_selected", "reactivate_selected"]
    change_list_template = "admin/accounts/membership/change_list.html"
    change_form_template = "admin/accounts/membership/change_form.html"

    def get_queryset(self, request):
        # The same scope as the API: channel managers see partner users, not
        # their colleagues.
        visible = memberships_visible_to(membership=request.membership)
        return super().get_queryset(request).filter(pk__in=visible.values("pk"))

    @admin.display(description=_("e-mail address"), ordering="user__email")
    def user_email(self, obj) -> str:
        return obj.user.email

    @admin.display(description=_("name"), ordering="user__full_name")
    def user_name(self, obj) -> str:
        return obj.user.full_name

    def has_manage_permission(self, request) -> bool:
        return has_capability(request, PEOPLE_CAPABILITIES)

    def _set_active(self, request, queryset, active: bool):
        _run_per_object(
            self,
            request,
            queryset,
            lambda target: set_membership_active(
                target=target, active=active, actor=request.user, membership=request.membership
            ),
            lambda count: (
                (
                    ngettext(
                        "%(count)d person can sign in again.",
                        "%(count)d people can sign in again.",
                        count,
                    )
                    if active
                    else ngettext(
                        "%(count)d person no longer has access.",
                        "%(count)d people no longer have access.",
                        count,
                    )
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Deactivate selected people"), permissions=["manage"])
    def deactivate_selected(self, request, queryset):
        self._set_active(request, queryset, active=False)

    @admin.action(description=_("Reactivate selected people"), permissions=["manage"])
    def reactivate_selected(self, request, queryset):
        self._set_active(request, queryset, active=True)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("invite/", view(self.invite_view), name="{}_{}_invite".format(*info)),
            path(
                "<path:object_id>/deactivate/",
                view(self.deactivate_view),
                name="{}_{}_deactivate".format(*info),
            ),
            path(
                "<path:object_id>/reactivate/",
                view(self.reactivate_view),
                name="{}_{}_reactivate".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_invite": bool(_invitable_roles(request))}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_manage": self.has_manage_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def invite_view(self, request):
        roles = _invitable_roles(request)
        if not roles:
            raise PermissionDenied

        def perform(form):
            invitation = invite_user(
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                partner=form.cleaned_data["partner"],
                actor=request.user,
                membership=request.membership,
                base_url=request.build_absolute_uri("/"),
            )
            self.message_user(
                request,
                _("Invitation sent to %(email)s.") % {"email": invitation.email},
                messages.SUCCESS,
            )
            return redirect(self.console_url("changelist"))

        return self.service_form_view(
            request,
            form_class=InviteForm,
            form_kwargs={"roles": roles},
            title=_("Invite someone"),
            perform=perform,
            submit_label=_("Send invitation"),
            intro=_("They receive an e-mail with a link to join with the role you choose."),
        )

    def _set_active_view(self, request, object_id, *, active: bool):
        target = self.get_object(request, unquote(object_id))
        if not self.has_manage_permission(request):
            raise PermissionDenied

        def perform(form):
            set_membership_active(
                target=target, active=active, actor=request.user, membership=request.membership
            )
            message = (
                _("%(person)s can sign in again.")
                if active
                else _("%(person)s no longer has access.")
            )
            self.message_user(request, message % {"person": target.user}, messages.SUCCESS)
            return redirect(self.console_url("change", target.pk))

        if active:
            title = _("Reactivate %(person)s") % {"person": target.user}
            intro = _("They will be able to sign in with their current role again.")
        else:
            title = _("Deactivate %(person)s") % {"person": target.user}
            intro = _("They will no longer be able to sign in to this tenant.")
        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=title,
            perform=perform,
            obj=target,
            submit_label=_("Reactivate") if active else _("Deactivate"),
            intro=intro,
        )

    def deactivate_view(self, request, object_id):
        return self._set_active_view(request, object_id, active=False)

    def reactivate_view(self, request, object_id):
        return self._set_active_view(request, object_id, active=True)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyConsoleAdmin):
    view_capability = PEOPLE_CAPABILITIES
    list_display = ("email", "role", "partner", "invited_by", "created_at", "status")
    list_filter = ("role",)
    search_fields = ("email", "partner__legal_name")
    list_select_related = ("partner", "invited_by")
    fields = (
        "email",
        "role",
        "partner",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("partner", "invited_by")
        if not has_capability(request, Capability.MANAGE_STAFF):
            queryset = queryset.filter(partner__isnull=False)
        return queryset

    @admin.display(description=_("status"))
    def status(self, obj) -> StrOrPromise:
        if obj.accepted_at:
            return _("Accepted")
        if obj.revoked_at:
            return _("Revoked")
        if not obj.is_open:
            return _("Expired")
        return _("Open")

    def has_revoke_permission(self, request) -> bool:
        return has_capability(request, PEOPLE_CAPABILITIES)

    @admin.action(description=_("Revoke selected invitations"), permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        _run_per_object(
            self,
            request,
            queryset,
            lambda invitation: revoke_invitation(
                invitation=invitation, actor=request.user, membership=request.membership
            ),
            lambda count: (
                ngettext("%(count)d invitation revoked.", "%(count)d invitations revoked.", count)
                % {"count": count}
            ),
        )


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyConsoleAdmin):
    view_capability = Capability.MANAGE_API_KEYS
    list_display = ("name", "prefix", "role", "created_by", "created_at", "last_used_at", "state")
    list_select_related = ("created_by",)
    fields = ("name", "prefix", "role", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        return has_capability(request, Capability.MANAGE_API_KEYS)

    def has_revoke_permission(self, request) -> bool:
        return has_capability(request, Capability.MANAGE_API_KEYS)

    @admin.display(description=_("state"))
    def state(self, obj) -> StrOrPromise:
        return _("Revoked") if obj.revoked_at else _("Active")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(form):
            api_key, key = create_api_key(
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                actor=request.user,
                membership=request.membership,
            )
            self.message_user(
                request,
                _("API key “%(name)s” created. Copy it now, it is not shown again: %(key)s")
                % {"name": api_key.name, "key": key},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", api_key.pk))

        return self.service_form_view(
            request,
            form_class=ApiKeyForm,
            title=_("Create an API key"),
            perform=perform,
            submit_label=_("Create key"),
            intro=_("Integrations send the key in the Authorization header: Api-Key <key>."),
        )

    @admin.action(description=_("Revoke selected API keys"), permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        _run_per_object(
            self,
            request,
            queryset,
            lambda api_key: revoke_api_key(
                api_key=api_key, actor=request.user, membership=request.membership
            ),
            lambda count: (
                ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", count)
                % {"count": count}
            ),
        )


# --- Platform site: logins ---------------------------------------------------


class PlatformUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("A login with this e-mail address already exists."))
        return email


class PlatformUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict = {}

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("A login with this e-mail address already exists."))
        return email


@admin.register(User, site=platform_site)
class PlatformUserAdmin(DjangoUserAdmin):
    """Logins are global (one person, several tenants); operators manage them here."""

    form = PlatformUserChangeForm
    add_form = PlatformUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "preferred_language")}),
        (_("Platform access"), {"fields": ("is_active", "is_superuser")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("email", "full_name", "is_superuser", "is_active", "last_login")
    list_filter = ("is_superuser", "is_active")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    filter_horizontal = ()

    def has_delete_permission(self, request, obj=None) -> bool:
        # A login's memberships and audit trail live in tenants the platform
        # host cannot see (row-level security) and the audit trail is
        # append-only: deactivate a login instead of deleting it.
        return False
