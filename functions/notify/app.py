"""notify: tells the owning team about an outcome event from the bus, once.

Glue only: an EventBridge event (detail-type = outcome kind, detail = the
envelope or a routed partner event) -> ``handoff.notify.service.run`` -> Slack
(and e-mail when configured). A failure raises: EventBridge retries, then
dead-letters the event.
"""

from handoff.handlers import bus_consumer
from handoff.notify import service

handler = bus_consumer(service.run)
