"""Route: apply the versioned policy to a call and its match, and build the handoff.

``policy`` loads and validates ``policy.yaml``, ``decide`` turns a call and a
match into a ``RouteDecision``, ``handoff`` builds the self-contained
``HandoffDocument`` that act writes and notify and the reviewer see.
"""
