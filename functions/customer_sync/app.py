"""customer_sync: Planyo partner events from the bus -> Billit customer sync or a routed outcome.

Glue only: an EventBridge event (source ``handoff.partner``; detail-type
``planyo.customer_changed``, ``planyo.reservation_status_changed`` or
``planyo.timed_notification``) -> ``handoff.partners.dispatch.run`` -> Billit
write once per change, or one ``partner.routed`` event for notify. A failure
raises, so the delivery is retried and, in the end, dead-lettered.
"""

from handoff.handlers import bus_consumer
from handoff.partners import dispatch

handler = bus_consumer(dispatch.run)
