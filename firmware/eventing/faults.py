"""The SOAP faults of WS-Eventing 2004/08 as DPWS profiles it (REFERENCE.md section 3.2).

One factory per subcode, like :mod:`firmware.wire.faults` does for WS-Scan:
[WSE] section 5 names the ``wse:`` faults and their Code, DPWS section 6.1 adds
``wsdp:FilterActionNotSupported`` (R3020) and ``wsa:DestinationUnreachable``
for a NotifyTo or EndTo address the service cannot use (R3017, R3018).

Each returns a :class:`firmware.wire.faults.SoapFault`; the HTTP handler sends
it with HTTP 400 (Sender) or 500 (Receiver).
"""

from __future__ import annotations

from firmware.wire import namespaces as ns
from firmware.wire.faults import RECEIVER, SENDER, SoapFault
from firmware.wire.xml import element, qname


def invalid_message(reason: str) -> SoapFault:
    """wse:InvalidMessage (Sender): the request does not follow the [WSE] outline (section 5.8)."""
    return SoapFault(SENDER, (ns.WSE, "InvalidMessage"), reason)


def delivery_mode_requested_unavailable(mode: str, supported: str) -> SoapFault:
    """wse:DeliveryModeRequestedUnavailable (Sender, [WSE] 5.1); Detail names the ``supported`` mode URI."""
    return SoapFault(
        SENDER,
        (ns.WSE, "DeliveryModeRequestedUnavailable"),
        f"The requested delivery mode is not supported: {mode[:200]}",
        element(qname(ns.WSE, "SupportedDeliveryMode"), supported),
    )


def invalid_expiration_time() -> SoapFault:
    """wse:InvalidExpirationTime (Sender, [WSE] 5.2): a zero or negative duration, or a time in the past."""
    return SoapFault(SENDER, (ns.WSE, "InvalidExpirationTime"), "The expiration time requested is invalid.")


def filtering_requested_unavailable(dialect: str, supported: str) -> SoapFault:
    """wse:FilteringRequestedUnavailable (Sender, [WSE] 5.5): a filter dialect other than
    the ``supported`` one (the DPWS Action dialect), which Detail names."""
    return SoapFault(
        SENDER,
        (ns.WSE, "FilteringRequestedUnavailable"),
        f"The requested filter dialect is not supported: {dialect[:200]}",
        element(qname(ns.WSE, "SupportedDialect"), supported),
    )


def filter_action_not_supported() -> SoapFault:
    """wsdp:FilterActionNotSupported (Sender, DPWS R3020): no action in the filter is one this service emits."""
    return SoapFault(
        SENDER,
        (ns.WSDP, "FilterActionNotSupported"),
        "No notifications match the supplied filter.",
        action=ns.WSDP + "/Fault",
    )


def event_source_unable_to_process(reason: str) -> SoapFault:
    """wse:EventSourceUnableToProcess (Receiver, [WSE] 5.6): e.g. too many subscriptions."""
    return SoapFault(RECEIVER, (ns.WSE, "EventSourceUnableToProcess"), reason)


def unable_to_renew(reason: str) -> SoapFault:
    """wse:UnableToRenew (Receiver, [WSE] 5.7): Renew of an unknown or expired subscription."""
    return SoapFault(RECEIVER, (ns.WSE, "UnableToRenew"), reason)


def destination_unreachable(reason: str) -> SoapFault:
    """wsa:DestinationUnreachable (Sender): an unusable NotifyTo/EndTo address (DPWS R3017/R3018),
    or GetStatus/Unsubscribe of an unknown or expired subscription (REFERENCE.md 3.2)."""
    return SoapFault(SENDER, (ns.WSA, "DestinationUnreachable"), reason)
