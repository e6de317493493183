"""WS-Eventing 2004/08 as DPWS profiles it (REFERENCE.md section 3).

Modules: :mod:`.model` (the WS-Eventing messages), :mod:`.expiration`
(``wse:Expires``: xs:duration / xs:dateTime), :mod:`.faults`, :mod:`.settings`
(:class:`EventingSettings`, the limits), :mod:`.subscriptions` (the subscription
table and the four operations) and :mod:`.delivery` (per-subscriber queues, HTTP
POST). Nothing here knows about scanning: the scan events come from
:mod:`firmware.scan.events` and a scan service becomes an event source in
:mod:`firmware.scan.eventsource`. Importing this package loads no Tornado.
"""

from .settings import EventingSettings

__all__ = ["EventingSettings"]
