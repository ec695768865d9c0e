"""Partner portal URLs for payee details; mounted at /payee/."""

from django.urls import path

from partners import payee_views

app_name = "payee"
urlpatterns = [
    path("", payee_views.payee, name="details"),
]
