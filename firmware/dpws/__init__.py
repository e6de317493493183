"""DPWS plumbing of a scanner device: WS-Discovery and device metadata (REFERENCE.md section 4).

Typical wiring, once per process::

    identity = load_identity(state_dir, sane_name)            # persistent urn:uuid, new InstanceId
    metadata = DeviceMetadata(manufacturer="Canon", model="LiDE 220")
    identity.update_metadata(metadata.digest(["/WSDScanner"]))  # bumps MetadataVersion on change
    device = DiscoveredDevice(identity, path="/" + identity.endpoint[9:])
    discovery = DiscoveryService([device], http_port=5358)
    await discovery.start()
    ...
    # on the device endpoint (HTTP): WS-Transfer Get -> get_response_body(identity, metadata, service_url)
    #                                 Probe -> directed_probe_response(request, device, xaddr)
    await discovery.stop()                                     # sends Bye

Modules: :mod:`.identity` (the state file), :mod:`.metadata` (ThisModel,
ThisDevice, Relationship), :mod:`.envelope` (discovery messages on the wire),
:mod:`.discovery` (the UDP responder), :mod:`.interfaces` (interface tracking over netlink),
:mod:`.matching` (Probe/Resolve matching, the directed Probe), :mod:`.udp` (the sockets of one interface).
"""

from .discovery import DiscoveryService
from .identity import DeviceIdentity, IdentityError, load_identity
from .interfaces import served_families
from .matching import DiscoveredDevice, directed_probe_response, match_probe
from .metadata import ACTION_GET, ACTION_GET_RESPONSE, DeviceMetadata, get_response_body

__all__ = [
    "ACTION_GET",
    "ACTION_GET_RESPONSE",
    "DeviceIdentity",
    "DeviceMetadata",
    "DiscoveredDevice",
    "DiscoveryService",
    "IdentityError",
    "directed_probe_response",
    "get_response_body",
    "load_identity",
    "match_probe",
    "served_families",
]
