"""Money plumbing: currency minor units and rounding (``currency``), the
tenant's exchange rates and conversions at the rate of an event's day
(``models``, ``rates``), and sealed storage for bank and tax numbers
(``sealed``)."""
