"""The staff console (Django admin per tenant) and the platform site; see ``site``."""
