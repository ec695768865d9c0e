"""REST endpoints for deal registration, the review queue, extension requests,
leads, the vendor's accounts and products.

The same rules as the portal and the console, because the same selectors scope
every lookup and the same services make every change (they check the role
again, run in a transaction and write the timeline and audit rows):

- a partner user reads and acts on their own organisation's deals and leads
  only; anything else — another partner's, another tenant's — answers 404;
- staff (and tenant API keys, which act with a staff role) read everything;
  channel managers and tenant admins decide, finance only reads;
- registering a deal, checking a claim, appealing, asking for more protection
  and answering a lead are things a partner's own people do: an API key acts
  for the vendor and is refused with ``code: partner_user_only``; a comment
  needs a person as its author (``code: person_only``).

Service refusals become ``{code, detail, field}`` responses through
``prm.api.exceptions`` and roll the request back.
"""

from deals.api.book import AccountViewSet, ProductViewSet
from deals.api.deals import DealViewSet
from deals.api.leads import LeadViewSet
from deals.api.review import ExtensionRequestViewSet, RegistrationViewSet

__all__ = [
    "AccountViewSet",
    "DealViewSet",
    "ExtensionRequestViewSet",
    "LeadViewSet",
    "ProductViewSet",
    "RegistrationViewSet",
]
