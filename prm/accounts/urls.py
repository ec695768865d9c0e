"""Account pages allauth does not provide; mounted at /accounts/ before allauth."""

from django.urls import path

from prm.accounts import views

app_name = "accounts"
urlpatterns = [
    path("invitation/<str:token>/", views.accept_invitation, name="invitation"),
    path("switch/", views.switch, name="switch"),
    path("switch/<int:membership_id>/", views.switch_to, name="switch_to"),
    path("handoff/", views.handoff, name="handoff"),
    # Replaces allauth's e-mail management: invitations and memberships are
    # keyed on the address, so only administrators change it.
    path("email/", views.email_managed, name="email_managed"),
]
