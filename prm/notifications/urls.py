"""The inbox, served at /notifications/ on a tenant's host."""

from django.urls import path

from prm.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.inbox, name="list"),
    path("read-all/", views.read_all, name="read_all"),
    path("<int:pk>/read/", views.read, name="read"),
    path("<int:pk>/open/", views.open_link, name="open"),
]
