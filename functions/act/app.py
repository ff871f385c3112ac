"""act: one state of the Handoff state machine. Perform the decided (and reviewed) actions exactly
once each.

Glue only: the envelope is parsed (``handoff.handlers.state_step``), handed to
``handoff.act.service.run`` and returned with this step's part added.
"""

from handoff.act import service
from handoff.handlers import state_step

handler = state_step(service.run)
