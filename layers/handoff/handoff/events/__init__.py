"""The event contract of the Handoff bus: typed, versioned details and the lifecycle signals.

- ``contract``: one pydantic model per detail type (``extra="forbid"``).
- ``build``: outcome events from the typed parts of the state document.
- ``signals``: safe lifecycle signals for marketing, as the routing policy says.
- ``schema``: JSON Schemas generated from the models (schemas/events/, the template's registry).
- ``publish``: validated PutEvents entries and the outcome view notify reads from the call record.
"""
