"""Partner portal earnings pages, served at /earnings/ on a tenant's host."""

from django.urls import path

from incentives import views

app_name = "earnings"
urlpatterns = [
    path("", views.earnings, name="index"),
]
