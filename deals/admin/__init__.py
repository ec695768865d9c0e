"""Console registrations for deals, split by concept: the review queue
(``review``), extension requests (``extensions``), the program's settings and
the vendor's book (``program``), leads and routing (``leads``) and CSV imports
(``imports``)."""

from deals.admin import extensions, imports, leads, program, review, routing

__all__ = ["extensions", "imports", "leads", "program", "review", "routing"]
