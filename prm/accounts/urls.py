"""Account pages that allauth does not provide (filled in by the portal work)."""

urlpatterns: list = []
