"""Partner portal deal pages, served at /deals/ on a tenant's host."""

from django.urls import path

from deals import views

app_name = "deals"
urlpatterns = [
    path("", views.deal_list, name="list"),
    path("new/", views.deal_new, name="new"),
    path("check/", views.claim_check, name="check"),
    path("<str:reference>/", views.deal_detail, name="detail"),
    path("<str:reference>/start/", views.deal_start, name="start"),
    path("<str:reference>/won/", views.deal_close_won, name="close_won"),
    path("<str:reference>/lost/", views.deal_close_lost, name="close_lost"),
    path("<str:reference>/appeal/", views.deal_appeal, name="appeal"),
    path("<str:reference>/comments/", views.deal_comment, name="comment"),
    path("<str:reference>/extension/", views.deal_extension, name="extension"),
]
