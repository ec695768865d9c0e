"""Partner portal URLs, served at / on a tenant's host."""

from django.urls import path

from prm.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("team/", views.team, name="team"),
    path("team/invite/", views.team_invite, name="team_invite"),
    path("team/members/<int:membership_id>/active/", views.member_active, name="member_active"),
    path("team/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "team/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
