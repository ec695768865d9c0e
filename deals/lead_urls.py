"""Partner portal lead pages, served at /leads/ on a tenant's host."""

from django.urls import path

from deals import lead_views

app_name = "leads"
urlpatterns = [
    path("", lead_views.lead_list, name="list"),
    path("<str:reference>/", lead_views.lead_detail, name="detail"),
    path("<str:reference>/accept/", lead_views.lead_accept, name="accept"),
    path("<str:reference>/reject/", lead_views.lead_reject, name="reject"),
    path("<str:reference>/convert/", lead_views.lead_convert, name="convert"),
]
