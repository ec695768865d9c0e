"""Partner portal earnings pages, served at /earnings/ on a tenant's host."""

from django.urls import path

from incentives import statement_views, views

app_name = "earnings"
urlpatterns = [
    path("", views.earnings, name="index"),
    path("statements/<int:pk>.pdf", statement_views.partner_statement_pdf, name="statement_pdf"),
]
