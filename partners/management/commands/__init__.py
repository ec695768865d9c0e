"""``manage.py seed_demo`` and friends."""
