"""act: one state of the Handoff state machine. Perform the decided (and reviewed) actions exactly
once each, then publish ``call.handed_off``: Act is the acted path's last state.

Glue only: the envelope is parsed (``handoff.handlers.state_step``), handed to
``handoff.act.service.run`` and returned with this step's part added; the
outcome event is published from it (``handoff.events.publish.publishing``).
"""

from handoff.act import service
from handoff.events.publish import publishing
from handoff.handlers import state_step

handler = state_step(publishing("call.handed_off", service.run))
