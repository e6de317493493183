"""DPWS device metadata: ThisModel, ThisDevice, Relationship and the WS-Transfer GetResponse body.

REFERENCE.md section 4.4, DPWS section 5 (R2012, R2014, R2029, R2044),
[SPEC] App. B. Windows installs its inbox WSD scan driver because of
``pnpx:CompatibleId`` = :data:`SCANNER_COMPATIBLE_ID` on the Hosted scan
service and ``pnpx:DeviceCategory`` = ``Scanners`` in ThisModel.

The typed elements (:class:`ThisModel`, :class:`ThisDevice`, :class:`Hosted`,
:class:`Relationship`, :class:`Metadata`) each have ``to_xml`` and
``from_xml``; :class:`DeviceMetadata` is the short description the
application configures, and :func:`get_response_body` assembles the
``wsx:Metadata`` element for a device.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from firmware.wire import namespaces as ns
from firmware.wire.xml import Element, element, find, find_all, qname, sub, text_of

from .envelope import SCANNER_DEVICE_TYPES, SCANNER_SERVICE_TYPE, QName, parse_qname_list, qname_list_element
from .identity import DeviceIdentity

DIALECT_THIS_MODEL = ns.WSDP + "/ThisModel"
DIALECT_THIS_DEVICE = ns.WSDP + "/ThisDevice"
DIALECT_RELATIONSHIP = ns.WSDP + "/Relationship"  # case-sensitive (REFERENCE.md section 4.4)
RELATIONSHIP_HOST = ns.WSDP + "/host"
SCANNER_COMPATIBLE_ID = ns.SCAN + "/ScannerServiceType"
ACTION_GET = ns.WST + "/Get"  # WS-Transfer Get, answered on the device endpoint (XAddr)
ACTION_GET_RESPONSE = ns.WST + "/GetResponse"
DEVICE_CATEGORY_SCANNERS = "Scanners"

MAX_FIELD_SIZE = 256  # Unicode characters; DPWS: fields MUST have fewer
MAX_URI_SIZE = 2048  # octets; DPWS: URIs MUST have fewer
MAX_COMPATIBLE_ID = 196  # characters ([SPEC] App. B section 1)

_LANG = qname(ns.XML, "lang")


class MetadataError(ValueError):
    """Metadata XML that does not have the DPWS structure, or a field that breaks a DPWS limit."""


def _wsdp(local: str) -> str:
    return qname(ns.WSDP, local)


def _mex(local: str) -> str:
    return qname(ns.MEX, local)


def _pnpx(local: str) -> str:
    return qname(ns.PNPX, local)


def _df(local: str) -> str:
    return qname(ns.DF, local)


def _field(value: str) -> str:
    """Trim a text field to fewer than MAX_FIELD_SIZE characters."""
    return value.strip()[: MAX_FIELD_SIZE - 1]


def _uri(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if len(value.encode("utf-8")) >= MAX_URI_SIZE:
        raise MetadataError(f"{name} must have fewer than {MAX_URI_SIZE} octets")
    return value


def _required_text(parent: Element, tag: str) -> str:
    value = text_of(find(parent, tag))
    if not value:
        raise MetadataError(f"missing {tag}")
    return value


def _localized(parent: Element, tag: str, text: str, language: str | None) -> None:
    sub(parent, tag, text, {_LANG: language} if language else None)


# --- ThisModel / ThisDevice ----------------------------------------------------------


@dataclass(frozen=True)
class ThisModel:
    """``wsdp:ThisModel`` (DPWS section 5.1) plus ``pnpx:DeviceCategory``.

    Text fields are localized with ``language`` (xml:lang); URLs are absolute
    http(s) URIs of fewer than 2048 octets.
    """

    manufacturer: str
    model_name: str
    manufacturer_url: str | None = None
    model_number: str | None = None
    model_url: str | None = None
    presentation_url: str | None = None
    device_category: str | None = DEVICE_CATEGORY_SCANNERS
    language: str | None = "en"

    def to_xml(self) -> Element:
        """Build ``wsdp:ThisModel`` in schema order.

        Manufacturer, ManufacturerUrl?, ModelName, ModelNumber?, ModelUrl?,
        PresentationUrl?, then the extension ``pnpx:DeviceCategory?``.
        """
        el = element(_wsdp("ThisModel"))
        _localized(el, _wsdp("Manufacturer"), _field(self.manufacturer), self.language)
        if self.manufacturer_url:
            sub(el, _wsdp("ManufacturerUrl"), _uri(self.manufacturer_url, "ManufacturerUrl"))
        _localized(el, _wsdp("ModelName"), _field(self.model_name), self.language)
        if self.model_number:
            sub(el, _wsdp("ModelNumber"), _field(self.model_number))
        if self.model_url:
            sub(el, _wsdp("ModelUrl"), _uri(self.model_url, "ModelUrl"))
        if self.presentation_url:
            sub(el, _wsdp("PresentationUrl"), _uri(self.presentation_url, "PresentationUrl"))
        if self.device_category:
            sub(el, _pnpx("DeviceCategory"), self.device_category)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> ThisModel:
        """Parse ``wsdp:ThisModel`` (the first Manufacturer and ModelName). Raises :class:`MetadataError`."""
        if el.tag != _wsdp("ThisModel"):
            raise MetadataError(f"expected wsdp:ThisModel, got {el.tag}")
        manufacturer_el = find(el, _wsdp("Manufacturer"))
        return cls(
            manufacturer=_required_text(el, _wsdp("Manufacturer")),
            model_name=_required_text(el, _wsdp("ModelName")),
            manufacturer_url=text_of(find(el, _wsdp("ManufacturerUrl"))),
            model_number=text_of(find(el, _wsdp("ModelNumber"))),
            model_url=text_of(find(el, _wsdp("ModelUrl"))),
            presentation_url=text_of(find(el, _wsdp("PresentationUrl"))),
            device_category=text_of(find(el, _pnpx("DeviceCategory"))),
            language=manufacturer_el.get(_LANG) if manufacturer_el is not None else None,
        )


@dataclass(frozen=True)
class ThisDevice:
    """``wsdp:ThisDevice`` (DPWS section 5.1): FriendlyName (localized), FirmwareVersion?, SerialNumber?,
    then the extension ``df:ContainerId?`` (the PnP-X device container, a GUID in braces,
    ``{4509a320-00a0-008f-00b6-006a7023f0bb}``, as real MFPs send it; REFERENCE.md section 4.4)."""

    friendly_name: str
    firmware_version: str | None = None
    serial_number: str | None = None
    language: str | None = "en"
    container_id: str | None = None

    def to_xml(self) -> Element:
        """Build ``wsdp:ThisDevice``; text fields are trimmed to fewer than 256 characters."""
        el = element(_wsdp("ThisDevice"))
        _localized(el, _wsdp("FriendlyName"), _field(self.friendly_name), self.language)
        if self.firmware_version:
            sub(el, _wsdp("FirmwareVersion"), _field(self.firmware_version))
        if self.serial_number:
            sub(el, _wsdp("SerialNumber"), _field(self.serial_number))
        if self.container_id:
            sub(el, _df("ContainerId"), self.container_id)
        return el

    @classmethod
    def from_xml(cls, el: Element) -> ThisDevice:
        """Parse ``wsdp:ThisDevice`` (the first FriendlyName). Raises :class:`MetadataError`."""
        if el.tag != _wsdp("ThisDevice"):
            raise MetadataError(f"expected wsdp:ThisDevice, got {el.tag}")
        name_el = find(el, _wsdp("FriendlyName"))
        return cls(
            friendly_name=_required_text(el, _wsdp("FriendlyName")),
            firmware_version=text_of(find(el, _wsdp("FirmwareVersion"))),
            serial_number=text_of(find(el, _wsdp("SerialNumber"))),
            language=name_el.get(_LANG) if name_el is not None else None,
            container_id=text_of(find(el, _df("ContainerId"))),
        )


# --- Relationship --------------------------------------------------------------------


@dataclass(frozen=True)
class Hosted:
    """``wsdp:Host`` or ``wsdp:Hosted`` (DPWS section 5.2).

    ``addresses``: the EndpointReference addresses (one or more);
    ``types``: QNames; ``service_id``: a stable URI; ``hardware_id`` and
    ``compatible_id``: the PnP-X extension elements (Hosted only).
    """

    addresses: tuple[str, ...]
    types: tuple[QName, ...]
    service_id: str
    hardware_id: str | None = None
    compatible_id: str | None = None

    def to_xml(self, tag_local: str = "Hosted") -> Element:
        """Build ``wsdp:<tag_local>``: EndpointReference+, Types?, ServiceId, pnpx:HardwareId?, pnpx:CompatibleId?."""
        if not self.addresses:
            raise MetadataError("a Host/Hosted needs at least one EndpointReference")
        el = element(_wsdp(tag_local))
        for address in self.addresses:
            epr = sub(el, qname(ns.WSA, "EndpointReference"))
            sub(epr, qname(ns.WSA, "Address"), _uri(address, "EndpointReference Address"))
        if self.types:
            el.append(qname_list_element(_wsdp("Types"), self.types))
        sub(el, _wsdp("ServiceId"), self.service_id)
        if self.hardware_id:
            sub(el, _pnpx("HardwareId"), self.hardware_id)
        if self.compatible_id:
            if len(self.compatible_id) > MAX_COMPATIBLE_ID:
                raise MetadataError(f"pnpx:CompatibleId is limited to {MAX_COMPATIBLE_ID} characters")
            sub(el, _pnpx("CompatibleId"), self.compatible_id)
        return el

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str]) -> Hosted:
        """Parse a ``wsdp:Host``/``wsdp:Hosted``; ``prefixes`` resolves the Types QNames.

        Raises :class:`MetadataError` when an EndpointReference or the ServiceId is missing.
        """
        addresses = tuple(
            _required_text(epr, qname(ns.WSA, "Address")) for epr in find_all(el, qname(ns.WSA, "EndpointReference"))
        )
        if not addresses:
            raise MetadataError(f"{el.tag} has no EndpointReference")
        return cls(
            addresses=addresses,
            types=parse_qname_list(text_of(find(el, _wsdp("Types"))), prefixes),
            service_id=_required_text(el, _wsdp("ServiceId")),
            hardware_id=text_of(find(el, _pnpx("HardwareId"))),
            compatible_id=text_of(find(el, _pnpx("CompatibleId"))),
        )


@dataclass(frozen=True)
class Relationship:
    """``wsdp:Relationship Type=".../devprof/host"`` with an optional Host and the Hosted services."""

    host: Hosted | None
    hosted: tuple[Hosted, ...]

    def to_xml(self) -> Element:
        """Build ``wsdp:Relationship``; at least one of Host and Hosted is required (DPWS section 5.2)."""
        if self.host is None and not self.hosted:
            raise MetadataError("a Relationship needs a Host or a Hosted")
        el = element(_wsdp("Relationship"), attrib={"Type": RELATIONSHIP_HOST})
        if self.host is not None:
            el.append(self.host.to_xml("Host"))
        for hosted in self.hosted:
            el.append(hosted.to_xml("Hosted"))
        return el

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str]) -> Relationship:
        """Parse a hosting ``wsdp:Relationship``. Raises :class:`MetadataError` for another Type."""
        if el.tag != _wsdp("Relationship") or el.get("Type") != RELATIONSHIP_HOST:
            raise MetadataError("expected wsdp:Relationship of the host type")
        host_el = find(el, _wsdp("Host"))
        return cls(
            host=Hosted.from_xml(host_el, prefixes) if host_el is not None else None,
            hosted=tuple(Hosted.from_xml(h, prefixes) for h in find_all(el, _wsdp("Hosted"))),
        )


# --- the whole wsx:Metadata -------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    """``wsx:Metadata`` with the ThisModel, ThisDevice and Relationship sections (DPWS R2012, R2014, R2029)."""

    this_model: ThisModel
    this_device: ThisDevice
    relationship: Relationship | None

    def to_xml(self) -> Element:
        """Build ``wsx:Metadata`` with one ``wsx:MetadataSection Dialect=...`` per part."""
        root = element(_mex("Metadata"))
        for dialect, part in (
            (DIALECT_THIS_MODEL, self.this_model),
            (DIALECT_THIS_DEVICE, self.this_device),
            (DIALECT_RELATIONSHIP, self.relationship),
        ):
            if part is not None:
                sub(root, _mex("MetadataSection"), attrib={"Dialect": dialect}).append(part.to_xml())
        return root

    @classmethod
    def from_xml(cls, el: Element, prefixes: dict[str, str]) -> Metadata:
        """Parse ``wsx:Metadata``; sections of other dialects are ignored. Raises :class:`MetadataError`."""
        if el.tag != _mex("Metadata"):
            raise MetadataError(f"expected wsx:Metadata, got {el.tag}")
        parts: dict[str, Element] = {}
        for section in find_all(el, _mex("MetadataSection")):
            child = next(iter(section), None)
            dialect = section.get("Dialect", "")
            if child is not None and dialect not in parts:
                parts[dialect] = child
        if DIALECT_THIS_MODEL not in parts or DIALECT_THIS_DEVICE not in parts:
            raise MetadataError("ThisModel and ThisDevice sections are required")
        relationship = parts.get(DIALECT_RELATIONSHIP)
        return cls(
            this_model=ThisModel.from_xml(parts[DIALECT_THIS_MODEL]),
            this_device=ThisDevice.from_xml(parts[DIALECT_THIS_DEVICE]),
            relationship=Relationship.from_xml(relationship, prefixes) if relationship is not None else None,
        )


# --- what the application configures ----------------------------------------------------


def default_friendly_name(model: str, hostname: str | None = None) -> str:
    """Return ``"<model> on <hostname>"``; ``hostname`` defaults to this host's short name."""
    host = (hostname or socket.gethostname()).split(".", 1)[0]
    return f"{model} on {host}"


def default_hardware_id(manufacturer: str, model: str) -> str:
    """Return a PnP-X hardware id ``VEN_<manufacturer>&DEV_<model>`` (REFERENCE.md section 4.4 form).

    Only letters and digits are kept, upper-cased, at most 32 characters each.
    """

    def token(text: str) -> str:
        return (re.sub(r"[^A-Za-z0-9]", "", text).upper() or "UNKNOWN")[:32]

    return f"VEN_{token(manufacturer)}&DEV_{token(model)}"


@dataclass(frozen=True)
class DeviceMetadata:
    """The device description the application configures for one scanner.

    ``friendly_name`` defaults to ``"<model> on <hostname>"``,
    ``hardware_id`` to :func:`default_hardware_id` and ``model_number`` to
    ``model`` (go-mfp's decoder requires ModelNumber; a real Kyocera repeats
    its model name there). ``presentation_url``, ``manufacturer_url`` and
    ``model_url`` are absolute URLs or None; None means the page of the
    appliance the client reached (see :meth:`this_model`). Text fields longer
    than 255 characters are trimmed on the wire (DPWS MAX_FIELD_SIZE).
    """

    manufacturer: str
    model: str
    friendly_name: str = ""
    firmware_version: str | None = None
    serial_number: str | None = None
    presentation_url: str | None = None
    hardware_id: str = ""
    manufacturer_url: str | None = None
    model_number: str | None = None
    language: str = "en"
    model_url: str | None = None

    def __post_init__(self) -> None:
        if not self.friendly_name:
            object.__setattr__(self, "friendly_name", default_friendly_name(self.model))
        if not self.hardware_id:
            object.__setattr__(self, "hardware_id", default_hardware_id(self.manufacturer, self.model))
        if not self.model_number:
            object.__setattr__(self, "model_number", self.model)

    def this_model(self, page_url: str | None = None) -> ThisModel:
        """Return the ThisModel part (with ``pnpx:DeviceCategory`` Scanners).

        ``page_url``: the appliance's own page as the client reaches it
        (``http://<host>:<port>/``); it is the PresentationUrl, and the
        ManufacturerUrl and ModelUrl unless configured (the network device is
        this appliance; SANE does not tell the scanner maker's site).
        """
        return ThisModel(
            manufacturer=self.manufacturer,
            model_name=self.model,
            manufacturer_url=self.manufacturer_url or page_url,
            model_number=self.model_number,
            model_url=self.model_url or page_url,
            presentation_url=self.presentation_url or page_url,
            language=self.language,
        )

    def this_device(self, container_id: str | None = None) -> ThisDevice:
        """Return the ThisDevice part; ``container_id`` is the ``df:ContainerId`` (see
        :attr:`firmware.dpws.identity.DeviceIdentity.container_id`)."""
        return ThisDevice(
            friendly_name=self.friendly_name,
            firmware_version=self.firmware_version,
            serial_number=self.serial_number,
            language=self.language,
            container_id=container_id,
        )

    def digest(self, service_paths: Sequence[str] = ()) -> str:
        """Return a SHA-256 hex digest of the content, for :meth:`DeviceIdentity.update_metadata`.

        ``service_paths`` are the URL paths (not hosts: they change with the
        receiving interface) of the hosted services, so moving a service also
        bumps MetadataVersion.
        """
        content = asdict(self)
        content["service_paths"] = list(service_paths)
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def build_metadata(
    identity: DeviceIdentity, metadata: DeviceMetadata, service_urls: Sequence[str], page_url: str | None = None
) -> Metadata:
    """Return the typed :class:`Metadata` of a scanner device.

    ThisModel with ``page_url`` as PresentationUrl (:meth:`DeviceMetadata.this_model`);
    ThisDevice with the identity's ``df:ContainerId``. Host: the device endpoint
    with Types ``wsdp:Device wscn:ScanDeviceType`` and ServiceId = the endpoint;
    Hosted: ``service_urls`` with Types ``wscn:ScannerServiceType``,
    ``identity.service_id``, the hardware id and CompatibleId
    :data:`SCANNER_COMPATIBLE_ID`.
    """
    host = Hosted(
        addresses=(identity.endpoint,),
        types=SCANNER_DEVICE_TYPES,
        service_id=identity.endpoint,
    )
    hosted = Hosted(
        addresses=tuple(service_urls),
        types=(SCANNER_SERVICE_TYPE,),
        service_id=identity.service_id,
        hardware_id=metadata.hardware_id,
        compatible_id=SCANNER_COMPATIBLE_ID,
    )
    return Metadata(
        metadata.this_model(page_url), metadata.this_device(identity.container_id), Relationship(host, (hosted,))
    )


def get_response_body(
    identity: DeviceIdentity,
    metadata: DeviceMetadata,
    service_url: str | Sequence[str],
    page_url: str | None = None,
) -> Element:
    """Return the ``wsx:Metadata`` element, the only Body child of a WS-Transfer GetResponse (DPWS R2044).

    ``service_url`` is the scan service's address as seen by the client (one
    URL, or several for several EndpointReferences), e.g.
    ``http://192.168.1.50:5358/WSDScanner``; ``page_url`` the appliance's page
    as seen by the client (``http://192.168.1.50:5358/``), the PresentationUrl. Wrap it with
    ``build_envelope(ACTION_GET_RESPONSE, body, relates_to=request.message_id)``.
    Raises :class:`MetadataError` when a URL is 2048 octets or longer.
    """
    urls = (service_url,) if isinstance(service_url, str) else tuple(service_url)
    return build_metadata(identity, metadata, urls, page_url).to_xml()
