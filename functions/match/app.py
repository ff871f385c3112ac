"""match: one state of the Handoff state machine. Find the caller's records in every configured tool,
from the call record as it is now.

Glue only: the envelope is parsed (``handoff.handlers.state_step``), handed to
``handoff.match.service.run`` and returned with this step's part added.
"""

from handoff.handlers import state_step
from handoff.match import service

handler = state_step(service.run)
