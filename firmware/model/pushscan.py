"""The push-scan ("scan to PC") elements of WS-Scan, typed (REFERENCE.md section 3.3).

* :class:`ScanDestination` / :class:`ScanDestinations`: the extension element a
  PC adds to its ``wse:Subscribe`` body ([XSD] Scanner.xsd ``ScanDestinationsType``:
  one or more ``ScanDestination{ClientDisplayName (String127), ClientContext (String255)}``);
* :class:`DestinationResponse` / :class:`DestinationResponses`: the extension
  element the device adds to ``wse:SubscribeResponse`` (``DestinationResponsesType``:
  one ``DestinationResponse{ClientContext, DestinationToken}`` per destination);
* :class:`ScanAvailableEvent`: the notification sent to the one PC whose
  destination the user chose ([XSD] WDPScan.xsd ``ScanAvailableEventType``:
  ``ClientContext, ScanIdentifier, InputSource?``; InputSource is a
  ``DocumentInputSourceExtType``: ``Platen``, ``ADF``, ``ADFDuplex``, ``Film``).

Each has ``to_xml`` and ``from_xml``; parsing raises ``wscn:InvalidArgs`` for a
missing required child or a string over its XSD length, like the rest of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from firmware.model.common import child, required_child, string_value
from firmware.wire import faults
from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find_all, scan, sub

INPUT_SOURCES = ("Platen", "ADF", "ADFDuplex", "Film")
"""The well-known InputSource values ([XSD] WellKnownValues.xsd DocumentInputSourceWKVType)."""


def _expect(el: Element, local: str) -> None:
    if el.tag != scan(local):
        raise faults.invalid_args(f"expected wscn:{local}, got {el.tag[:120]}")


@dataclass(frozen=True)
class ScanDestination:
    """ScanDestination: ``client_display_name`` (what the device shows, String127, e.g.
    "Scan to MYPC") and ``client_context`` (String255, e.g. ``Scan``, ``ScanToEmail``)."""

    client_display_name: str
    client_context: str

    def to_xml(self) -> Element:
        """Build ScanDestination{ClientDisplayName, ClientContext}."""
        el = element(scan("ScanDestination"))
        sub(el, scan("ClientDisplayName"), self.client_display_name)
        sub(el, scan("ClientContext"), self.client_context)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScanDestination; raises ``wscn:InvalidArgs``."""
        _expect(el, "ScanDestination")
        return cls(
            string_value(required_child(el, "ClientDisplayName"), 127),
            string_value(required_child(el, "ClientContext")),
        )


@dataclass(frozen=True)
class ScanDestinations:
    """ScanDestinations: the ``destinations`` a PC registers (at least one)."""

    destinations: tuple[ScanDestination, ...]

    def to_xml(self) -> Element:
        """Build ScanDestinations{ScanDestination+}; ``ValueError`` when there is none."""
        if not self.destinations:
            raise ValueError("ScanDestinations needs at least one ScanDestination")
        el = element(scan("ScanDestinations"))
        for destination in self.destinations:
            el.append(destination.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse ScanDestinations; raises ``wscn:InvalidArgs`` when it holds no ScanDestination."""
        _expect(el, "ScanDestinations")
        destinations = tuple(ScanDestination.from_xml(d) for d in find_all(el, scan("ScanDestination")))
        if not destinations:
            raise faults.invalid_args("ScanDestinations holds no ScanDestination.")
        return cls(destinations)


@dataclass(frozen=True)
class DestinationResponse:
    """DestinationResponse: the ``client_context`` of one registered destination and the
    ``destination_token`` (String255) the PC sends back in CreateScanJobRequest."""

    client_context: str
    destination_token: str

    def to_xml(self) -> Element:
        """Build DestinationResponse{ClientContext, DestinationToken}."""
        el = element(scan("DestinationResponse"))
        sub(el, scan("ClientContext"), self.client_context)
        sub(el, scan("DestinationToken"), self.destination_token)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a DestinationResponse; raises ``wscn:InvalidArgs``."""
        _expect(el, "DestinationResponse")
        return cls(
            string_value(required_child(el, "ClientContext")),
            string_value(required_child(el, "DestinationToken")),
        )


@dataclass(frozen=True)
class DestinationResponses:
    """DestinationResponses: one :class:`DestinationResponse` per registered destination."""

    responses: tuple[DestinationResponse, ...]

    def to_xml(self) -> Element:
        """Build DestinationResponses{DestinationResponse+}; ``ValueError`` when there is none."""
        if not self.responses:
            raise ValueError("DestinationResponses needs at least one DestinationResponse")
        el = element(scan("DestinationResponses"))
        for response in self.responses:
            el.append(response.to_xml())
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse DestinationResponses; raises ``wscn:InvalidArgs`` when it holds none."""
        _expect(el, "DestinationResponses")
        responses = tuple(DestinationResponse.from_xml(r) for r in find_all(el, scan("DestinationResponse")))
        if not responses:
            raise faults.invalid_args("DestinationResponses holds no DestinationResponse.")
        return cls(responses)


@dataclass(frozen=True)
class ScanAvailableEvent:
    """ScanAvailableEvent: the chosen destination's ``client_context``, a ``scan_identifier``
    unique to this event (String255), and the ``input_source`` the user loaded
    (``Platen``, ``ADF``, ...; None: not known, the element is omitted)."""

    ACTION: ClassVar[str] = ns.scan_action("ScanAvailableEvent")
    client_context: str
    scan_identifier: str
    input_source: str | None = None

    def to_xml(self) -> Element:
        """Build ScanAvailableEvent{ClientContext, ScanIdentifier, InputSource?} (XSD order)."""
        el = element(scan("ScanAvailableEvent"))
        sub(el, scan("ClientContext"), self.client_context)
        sub(el, scan("ScanIdentifier"), self.scan_identifier)
        if self.input_source is not None:
            sub(el, scan("InputSource"), self.input_source)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> Self:
        """Parse a ScanAvailableEvent; raises ``wscn:InvalidArgs``."""
        _expect(el, "ScanAvailableEvent")
        source = child(el, "InputSource")
        return cls(
            string_value(required_child(el, "ClientContext")),
            string_value(required_child(el, "ScanIdentifier")),
            None if source is None else (source.text or "").strip(),
        )
