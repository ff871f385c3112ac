"""Partner-triggered flows: Planyo callbacks in, Billit customer sync and routed events out.

- ``planyo_events``: verify the callback URL token, parse a callback, map it to a bus event.
- ``customer_sync``: a changed Planyo customer becomes the same Billit customer, once per change.
- ``reservation_events``: status changes and timed notifications become ``PartnerOutcome`` events
  (owner and action from ``policy.yaml``) that notify renders.
- ``bus``: publishing on the EventBridge bus.

Submodules are imported where used (nothing here), so partner ingest loads only what it needs.
"""
