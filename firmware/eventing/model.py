"""Typed WS-Eventing 2004/08 messages, each with ``to_xml`` and ``from_xml`` ([WSE] section 3).

Subscribe, SubscribeResponse, Renew/RenewResponse, GetStatus/GetStatusResponse,
Unsubscribe (its response has an empty Body) and SubscriptionEnd, plus the
WS-Addressing 2004/08 endpoint reference they carry and the ``wse:Identifier``
header that names a subscription (REFERENCE.md section 3.2).

Parsing is lenient about what [WSE] leaves open (unknown children and
extension elements are ignored; both ``wsa:ReferenceParameters`` and the older
``wsa:ReferenceProperties`` are read) and raises ``wse:InvalidMessage`` for a
missing required part. Nothing here decides policy (which modes, dialects or
expiries are acceptable): that is :mod:`firmware.eventing.subscriptions`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Self

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find, qname, sub, text_of

from . import faults
from .expiration import Expiration

# --- fixed URIs ([WSE], DPWS section 6) ----------------------------------------------------

SUBSCRIBE = ns.WSE + "/Subscribe"
SUBSCRIBE_RESPONSE = ns.WSE + "/SubscribeResponse"
RENEW = ns.WSE + "/Renew"
RENEW_RESPONSE = ns.WSE + "/RenewResponse"
GET_STATUS = ns.WSE + "/GetStatus"
GET_STATUS_RESPONSE = ns.WSE + "/GetStatusResponse"
UNSUBSCRIBE = ns.WSE + "/Unsubscribe"
UNSUBSCRIBE_RESPONSE = ns.WSE + "/UnsubscribeResponse"
SUBSCRIPTION_END = ns.WSE + "/SubscriptionEnd"

PUSH_MODE = ns.WSE + "/DeliveryModes/Push"
"""The implied and only served delivery mode (DPWS R3009)."""

ACTION_DIALECT = ns.WSDP + "/Action"
"""The DPWS filter dialect: a white-space separated list of action URIs (DPWS section 6.1.1)."""

XPATH_DIALECT = "http://www.w3.org/TR/1999/REC-xpath-19991116"
"""The filter dialect [WSE] implies when ``Dialect`` is absent (not served)."""

DELIVERY_FAILURE = ns.WSE + "/DeliveryFailure"
SOURCE_SHUTTING_DOWN = ns.WSE + "/SourceShuttingDown"
SOURCE_CANCELING = ns.WSE + "/SourceCanceling"


def wse(local: str) -> str:
    """Return the Clark tag of a WS-Eventing element, e.g. ``wse("Subscribe")``."""
    return qname(ns.WSE, local)


def wsa(local: str) -> str:
    """Return the Clark tag of a WS-Addressing 2004/08 element, e.g. ``wsa("Address")``."""
    return qname(ns.WSA, local)


def _expect(el: Element, local: str) -> None:
    if el.tag != wse(local):
        raise faults.invalid_message(f"expected wse:{local}, got {el.tag[:120]}")


def _expires(parent: Element) -> Expiration | None:
    el = find(parent, wse("Expires"))
    return None if el is None else Expiration.parse(el.text or "")


def _extensions(parent: Element) -> tuple[Element, ...]:
    """The children of ``parent`` outside the WS-Eventing namespace (the extensibility point of
    Subscribe and SubscribeResponse, [WSE] 3.1)."""
    return tuple(c for c in parent if isinstance(c.tag, str) and not c.tag.startswith("{" + ns.WSE + "}"))


def _add_expires(parent: Element, expires: Expiration | None) -> None:
    if expires is not None:
        sub(parent, wse("Expires"), expires.text())


# --- endpoint references and the Identifier header -------------------------------------------


@dataclass(frozen=True)
class EndpointReference:
    """A WS-Addressing 2004/08 endpoint reference: ``address`` (a URI) and the
    ``reference_parameters``, kept as the elements received, to be echoed as SOAP
    header blocks in every message sent to this endpoint ([WSE] section 4)."""

    address: str
    reference_parameters: tuple[Element, ...] = ()

    def to_xml(self, tag: str) -> Element:
        """Build the EPR under ``tag``: ``wsa:Address``, then ``wsa:ReferenceParameters`` when there are any."""
        el = element(tag)
        sub(el, wsa("Address"), self.address)
        if self.reference_parameters:
            params = sub(el, wsa("ReferenceParameters"))
            for param in self.reference_parameters:
                params.append(copy.deepcopy(param))
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse an EPR; parameters come from ``wsa:ReferenceParameters`` and ``wsa:ReferenceProperties``.

        Raises ``wse:InvalidMessage`` when ``wsa:Address`` is missing or empty.
        """
        address = text_of(find(el, wsa("Address")))
        if not address:
            raise faults.invalid_message(f"{el.tag[:120]} has no wsa:Address")
        params: list[Element] = []
        for container in ("ReferenceParameters", "ReferenceProperties"):
            found = find(el, wsa(container))
            if found is not None:
                params.extend(found)
        return cls(address, tuple(params))

    def header_blocks(self) -> tuple[Element, ...]:
        """Copies of the reference parameters, to append to a SOAP Header addressed to this EPR."""
        return tuple(copy.deepcopy(param) for param in self.reference_parameters)

    @property
    def identifier(self) -> str | None:
        """The ``wse:Identifier`` reference parameter's text, or None."""
        return next((text_of(p) for p in self.reference_parameters if p.tag == wse("Identifier")), None)


def manager_reference(address: str, identifier: str) -> EndpointReference:
    """The EPR of a subscription manager at ``address`` naming subscription ``identifier``."""
    return EndpointReference(address, (identifier_header(identifier),))


def identifier_header(identifier: str) -> Element:
    """The ``wse:Identifier`` element (a reference parameter, echoed as a SOAP header)."""
    return element(wse("Identifier"), identifier)


def identifier_from_header(header: Element | None) -> str | None:
    """The text of the ``wse:Identifier`` block in a SOAP Header, or None when there is none."""
    if header is None:
        return None
    return text_of(find(header, wse("Identifier"))) or None


# --- Subscribe ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """``wse:Filter``: ``dialect`` (a URI) and, for the DPWS Action dialect, the
    ``actions`` URIs it lists (matched by the RFC 2396 prefix rule)."""

    actions: tuple[str, ...]
    dialect: str = ACTION_DIALECT

    def to_xml(self) -> Element:
        """Build ``wse:Filter Dialect="..."`` with the actions separated by spaces."""
        return element(wse("Filter"), " ".join(self.actions), {"Dialect": self.dialect})

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a Filter; an absent Dialect is the XPath dialect [WSE] implies.
        The text is split on white space into ``actions`` whatever the dialect."""
        dialect = (el.get("Dialect") or XPATH_DIALECT).strip()
        return cls(tuple("".join(el.itertext()).split()), dialect)


@dataclass(frozen=True)
class Subscribe:
    """``wse:Subscribe``: where to send notifications (``notify_to``; None when the
    Delivery holds no NotifyTo, which only a non-Push mode may do), where to
    send SubscriptionEnd (``end_to``), the requested ``expires`` (None:
    indefinite), the ``filter`` (None: every event) and the ``delivery_mode`` URI."""

    notify_to: EndpointReference | None
    end_to: EndpointReference | None = None
    expires: Expiration | None = None
    filter: Filter | None = None
    delivery_mode: str = PUSH_MODE
    extensions: tuple[Element, ...] = ()

    def to_xml(self) -> Element:
        """Build Subscribe: EndTo?, Delivery@Mode{NotifyTo}, Expires?, Filter?, then the
        ``extensions`` (elements of other namespaces, e.g. wscn:ScanDestinations) ([WSE] 3.1 order)."""
        el = element(wse("Subscribe"))
        if self.end_to is not None:
            el.append(self.end_to.to_xml(wse("EndTo")))
        delivery = sub(el, wse("Delivery"), attrib={"Mode": self.delivery_mode})
        if self.notify_to is not None:
            delivery.append(self.notify_to.to_xml(wse("NotifyTo")))
        _add_expires(el, self.expires)
        if self.filter is not None:
            el.append(self.filter.to_xml())
        el.extend(copy.deepcopy(e) for e in self.extensions)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a Subscribe; ``Delivery/@Mode`` defaults to Push; children outside the
        WS-Eventing namespace are kept in ``extensions``.

        Raises ``wse:InvalidMessage`` for a missing Delivery, a Push Delivery
        without NotifyTo, an EPR without Address or an ill-typed Expires.
        """
        _expect(el, "Subscribe")
        delivery = find(el, wse("Delivery"))
        if delivery is None:
            raise faults.invalid_message("Subscribe has no wse:Delivery")
        mode = (delivery.get("Mode") or PUSH_MODE).strip()
        notify = find(delivery, wse("NotifyTo"))
        if notify is None and mode == PUSH_MODE:
            raise faults.invalid_message("Push delivery needs a wse:NotifyTo")
        end_to = find(el, wse("EndTo"))
        filter_el = find(el, wse("Filter"))
        return cls(
            notify_to=None if notify is None else EndpointReference.from_xml(notify),
            end_to=None if end_to is None else EndpointReference.from_xml(end_to),
            expires=_expires(el),
            filter=None if filter_el is None else Filter.from_xml(filter_el),
            delivery_mode=mode,
            extensions=_extensions(el),
        )


@dataclass(frozen=True)
class SubscribeResponse:
    """``wse:SubscribeResponse``: the ``subscription_manager`` EPR (address plus
    ``wse:Identifier``), the granted ``expires`` and ``extensions`` (elements of other
    namespaces, e.g. wscn:DestinationResponses)."""

    subscription_manager: EndpointReference
    expires: Expiration
    extensions: tuple[Element, ...] = ()

    def to_xml(self) -> Element:
        """Build SubscribeResponse: SubscriptionManager, Expires, extensions."""
        el = element(wse("SubscribeResponse"))
        el.append(self.subscription_manager.to_xml(wse("SubscriptionManager")))
        _add_expires(el, self.expires)
        el.extend(copy.deepcopy(e) for e in self.extensions)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a SubscribeResponse; raises ``wse:InvalidMessage`` when a part is missing."""
        _expect(el, "SubscribeResponse")
        manager = find(el, wse("SubscriptionManager"))
        expires = _expires(el)
        if manager is None or expires is None:
            raise faults.invalid_message("SubscribeResponse needs SubscriptionManager and Expires")
        return cls(EndpointReference.from_xml(manager), expires, _extensions(el))


# --- Renew, GetStatus, Unsubscribe ---------------------------------------------------------------


@dataclass(frozen=True)
class _ExpiresOnly:
    expires: Expiration | None = None
    _local = ""

    def to_xml(self) -> Element:
        el = element(wse(self._local))
        _add_expires(el, self.expires)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        _expect(el, cls._local)
        return cls(_expires(el))


class Renew(_ExpiresOnly):
    """``wse:Renew{Expires?}``: the requested new expiry (None: indefinite).
    ``from_xml`` raises ``wse:InvalidMessage`` for another element or a bad Expires."""

    _local = "Renew"


class RenewResponse(_ExpiresOnly):
    """``wse:RenewResponse{Expires?}``: the granted expiry."""

    _local = "RenewResponse"


class GetStatusResponse(_ExpiresOnly):
    """``wse:GetStatusResponse{Expires?}``: when the subscription expires."""

    _local = "GetStatusResponse"


@dataclass(frozen=True)
class _Empty:
    _local = ""

    def to_xml(self) -> Element:
        return element(wse(self._local))

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        _expect(el, cls._local)
        return cls()


class GetStatus(_Empty):
    """``wse:GetStatus`` (no content)."""

    _local = "GetStatus"


class Unsubscribe(_Empty):
    """``wse:Unsubscribe`` (no content); the answer is an empty Body."""

    _local = "Unsubscribe"


# --- SubscriptionEnd -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionEnd:
    """``wse:SubscriptionEnd`` ([WSE] 3.5): the ended subscription's manager EPR,
    the ``status`` URI (:data:`DELIVERY_FAILURE`, :data:`SOURCE_SHUTTING_DOWN`,
    :data:`SOURCE_CANCELING`) and an optional English ``reason``."""

    subscription_manager: EndpointReference
    status: str
    reason: str | None = None

    def to_xml(self) -> Element:
        """Build SubscriptionEnd: SubscriptionManager, Status, Reason? (``xml:lang="en"``)."""
        el = element(wse("SubscriptionEnd"))
        el.append(self.subscription_manager.to_xml(wse("SubscriptionManager")))
        sub(el, wse("Status"), self.status)
        if self.reason is not None:
            sub(el, wse("Reason"), self.reason, {qname(ns.XML, "lang"): "en"})
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a SubscriptionEnd; raises ``wse:InvalidMessage`` when SubscriptionManager or Status is missing."""
        _expect(el, "SubscriptionEnd")
        manager = find(el, wse("SubscriptionManager"))
        status = text_of(find(el, wse("Status")))
        if manager is None or not status:
            raise faults.invalid_message("SubscriptionEnd needs SubscriptionManager and Status")
        reason = find(el, wse("Reason"))
        return cls(EndpointReference.from_xml(manager), status, None if reason is None else (reason.text or ""))
