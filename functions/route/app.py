"""route: one state of the Handoff state machine. Apply the routing policy: act, review or nothing
to do, and the handoff document.

Glue only: the envelope is parsed (``handoff.handlers.state_step``), handed to
``handoff.route.service.run`` and returned with this step's part added.
"""

from handoff.handlers import state_step
from handoff.route import service

handler = state_step(service.run)
