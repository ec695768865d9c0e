"""allauth adapter: no open sign-up; people join through invitations."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def get_login_redirect_url(self, request):
        # The platform host has no portal; its admin index lives at "/".
        if getattr(request, "tenant", None) is None:
            return "/"
        return super().get_login_redirect_url(request)
