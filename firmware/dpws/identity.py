"""Persistent DPWS device identity: endpoint, ServiceId, MetadataVersion, AppSequence (REFERENCE.md section 4.2).

One JSON file per scanner lives in the state directory, named after the
scanner's stable key (for example its SANE device name). It holds:

* ``endpoint``: the device's ``urn:uuid:`` EndpointReference address, created
  once and never changed (DPWS R0004-R0006);
* ``service_id``: the ``urn:uuid:`` ServiceId of the hosted scan service
  (DPWS section 5.2: persisted across re-initialization);
* ``metadata_version`` and ``metadata_digest``: the WS-Discovery
  MetadataVersion grows by one whenever the digest of the metadata content
  changes (WS-Discovery section 4.1, DPWS R2001/R2002);
* ``instance_id``: the AppSequence InstanceId, larger on every start
  (WS-Discovery Appendix I);
* ``message_number_reserved``: the AppSequence MessageNumbers are handed out
  in leases of :data:`MESSAGE_NUMBER_LEASE`; the file records the end of the
  current lease, so a restart (even after a crash) continues above every
  number already sent and MessageNumber never goes backwards, while the file is
  written only once per lease.

The file is a :class:`firmware.state.StateStore` document (written
atomically), written twice: ``<name>.json`` and ``<name>.backup.json``, so a
corrupt copy is recovered from the other and the ``urn:uuid`` never silently
changes. One process owns a state directory; two processes sharing one are
not supported. Writes are best effort: a state directory that cannot be
written leaves the identity in memory (logged once by the store).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from pathlib import Path

from firmware.state import StateStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MESSAGE_NUMBER_LEASE = 1000
UNSIGNED_INT_MAX = 0xFFFFFFFF  # xs:unsignedInt: InstanceId, MessageNumber, MetadataVersion
FILE_PREFIX = "dpws-"
BACKUP_SUFFIX = ".backup"  # the second copy: <name>.backup.json


class IdentityError(RuntimeError):
    """The identity cannot be loaded or stored (I/O error, or a counter exhausted its xs:unsignedInt range)."""


class DeviceIdentity:
    """The persistent identity of one DPWS device (one scanner).

    Attributes (read-only properties):

    * ``key``: the stable scanner key the identity was loaded for;
    * ``endpoint``: ``urn:uuid:...``, the device EPR address (wsa:Address in
      Hello/ProbeMatch, wsa:To of WS-Transfer Get, Host ServiceId);
    * ``service_id``: ``urn:uuid:...``, the hosted scan service's ServiceId;
    * ``metadata_version``: WS-Discovery MetadataVersion (1..2**32-1);
    * ``instance_id``: AppSequence InstanceId of this process run;
    * ``path``: the JSON file.

    Create it with :func:`load_identity`, never directly. Methods are
    thread-safe.
    """

    def __init__(self, store: StateStore, name: str, data: dict) -> None:
        self._store = store
        self._name = name
        self._data = data
        self._lock = threading.Lock()
        self._next_number = int(data["message_number_reserved"]) + 1

    # -- read-only fields ------------------------------------------------------

    @property
    def key(self) -> str:
        """The scanner key this identity belongs to."""
        return self._data["key"]

    @property
    def endpoint(self) -> str:
        """The device EPR address, ``urn:uuid:...`` (stable forever)."""
        return self._data["endpoint"]

    @property
    def service_id(self) -> str:
        """The hosted scan service's ServiceId, ``urn:uuid:...`` (stable forever)."""
        return self._data["service_id"]

    @property
    def container_id(self) -> str:
        """The PnP-X ``df:ContainerId`` of the device, a GUID in braces (``{...}``), as real MFPs send it.

        Derived, not stored: the name-based UUID (version 5) of the name ``df:ContainerId`` in
        the namespace of the endpoint's UUID, so it is as stable as the endpoint and differs per scanner.
        """
        return "{" + str(uuid.uuid5(uuid.UUID(self.endpoint.removeprefix("urn:uuid:")), "df:ContainerId")) + "}"

    @property
    def metadata_version(self) -> int:
        """The current WS-Discovery MetadataVersion (xs:unsignedInt, starts at 1)."""
        return int(self._data["metadata_version"])

    @property
    def instance_id(self) -> int:
        """The AppSequence InstanceId of this run (xs:unsignedInt)."""
        return int(self._data["instance_id"])

    @property
    def path(self) -> Path:
        """The JSON file in the state directory."""
        return self._store.directory / f"{self._name}.json"

    # -- counters ----------------------------------------------------------------

    def next_message_number(self) -> int:
        """Return the AppSequence MessageNumber for a new message (WS-Discovery Appendix I).

        Strictly larger than every number returned before, in this run and in
        earlier runs of the same identity. Retransmissions of one message must
        reuse its number, so call this once per message, not per datagram.
        If the number would leave the xs:unsignedInt range, the InstanceId is
        raised instead and numbering restarts at 1 (a new instance).
        A lease that cannot be written (disk full) is kept in memory: a
        restart starts a new InstanceId anyway, so numbers never repeat within
        one. Raises :class:`IdentityError` only when the InstanceId is exhausted.
        """
        with self._lock:
            if self._next_number > UNSIGNED_INT_MAX:
                self._persist(instance_id=_next_instance_id(self.instance_id), next_number=1)
            elif self._next_number > int(self._data["message_number_reserved"]):
                self._persist(instance_id=self.instance_id, next_number=self._next_number)
            number = self._next_number
            self._next_number += 1
            return number

    def update_metadata(self, digest: str) -> bool:
        """Record the digest of the current metadata; bump MetadataVersion when it differs.

        ``digest`` is any string that changes exactly when the ThisModel,
        ThisDevice or Relationship content changes (see
        :meth:`firmware.dpws.metadata.DeviceMetadata.digest`). Returns True
        when MetadataVersion was incremented (the caller should then send a
        Hello, WS-Discovery section 4.1). The first digest recorded for a new
        identity keeps MetadataVersion 1. A version that cannot be written is
        kept in memory (the store logs it). Raises :class:`IdentityError` when
        the version would exceed 2**32-1.
        """
        with self._lock:
            old = self._data.get("metadata_digest")
            if old == digest:
                return False
            bumped = old is not None
            if bumped and self.metadata_version >= UNSIGNED_INT_MAX:
                raise IdentityError("MetadataVersion exhausted its xs:unsignedInt range")
            self._data["metadata_version"] = self.metadata_version + int(bumped)
            self._data["metadata_digest"] = digest
            self._save()
            return bumped

    def _persist(self, instance_id: int, next_number: int) -> None:
        """Take a new lease ending MESSAGE_NUMBER_LEASE numbers after ``next_number`` (stored best effort)."""
        self._data["instance_id"] = instance_id
        self._data["message_number_reserved"] = min(next_number - 1 + MESSAGE_NUMBER_LEASE, UNSIGNED_INT_MAX)
        self._save()
        self._next_number = next_number

    def _save(self) -> bool:
        return _save(self._store, self._name, self._data)

    def __repr__(self) -> str:
        return f"DeviceIdentity(key={self.key!r}, endpoint={self.endpoint!r}, instance_id={self.instance_id})"


def identity_name(key: str) -> str:
    """Return the state document name of ``key``: ``dpws-<readable key>-<12 hex digits of its SHA-256>``."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:40] or "device"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{FILE_PREFIX}{readable}-{digest}"


def identity_path(state_dir: Path, key: str) -> Path:
    """Return the JSON file holding the identity of ``key`` in ``state_dir``."""
    return Path(state_dir) / f"{identity_name(key)}.json"


def load_identity(state_dir: Path, key: str, former_key: str | None = None) -> DeviceIdentity:
    """Load (or create) the identity of scanner ``key`` under ``state_dir`` and start a new instance.

    ``key`` is a stable scanner key, e.g. the SANE device name. The first call
    for a key creates fresh ``urn:uuid`` endpoint and ServiceId values; later
    calls, also in later processes, return the same ones. Every call starts a
    new AppSequence instance: ``instance_id`` becomes max(previous + 1, the
    current Unix time in seconds), so call it once per process start and share
    the result. ``state_dir`` is created if missing.

    The identity is kept in two files, ``<name>.json`` and ``<name>.backup.json``.
    A corrupt or invalid file is moved aside (``.corrupt-<timestamp>``) and the
    identity recovered from the other copy (WARNING); only when neither copy is
    usable is a new identity created, with a WARNING that Windows will see a new
    device and where the old file was kept. A state directory that cannot be
    written is logged by :class:`~firmware.state.StateStore` and the identity
    served from memory. ``former_key``: the key the same scanner was stored under
    by an earlier version (its SANE name, before USB scanners were keyed by port):
    when ``key`` has no identity yet and ``former_key`` has one, it becomes
    ``key``'s, so the ``urn:uuid`` stays. Raises :class:`IdentityError` only when
    the InstanceId exhausted its xs:unsignedInt range.
    """
    store = StateStore(Path(state_dir))
    name = identity_name(key)
    data, kept = _load_copies(store, name, key)
    former = None
    if data is None and not kept and former_key and former_key != key:
        data, _former_kept = _load_copies(store, identity_name(former_key), former_key)
        if data is not None:
            former = identity_name(former_key)
            data["key"] = key
            log.info("DPWS identity of %r is now kept under %r", former_key, key)
    if data is None:
        data = {
            "format": FORMAT_VERSION,
            "key": key,
            "endpoint": "urn:uuid:" + str(uuid.uuid4()),
            "service_id": "urn:uuid:" + str(uuid.uuid4()),
            "metadata_version": 1,
            "metadata_digest": None,
            "instance_id": 0,
            "message_number_reserved": 0,
        }
        if kept:
            log.warning(
                "the DPWS identity of scanner %r was corrupt with no usable backup: it gets the new identity %s, "
                "so Windows will see a new device (remove the old one in its Settings); the old file was kept as %s",
                key,
                data["endpoint"],
                ", ".join(kept),
            )
        else:
            log.info("created DPWS identity %s for %r", data["endpoint"], key)
    data["instance_id"] = _next_instance_id(int(data["instance_id"]))
    if _save(store, name, data) and former is not None:
        for doc in (former, former + BACKUP_SUFFIX):
            store.path(doc).unlink(missing_ok=True)
    return DeviceIdentity(store, name, data)


def _load_copies(store: StateStore, name: str, key: str) -> tuple[dict | None, list[str]]:
    """The identity of ``key`` stored as document ``name``: its primary copy, else its backup.
    Returns the data (None if no copy is usable) and where corrupt copies were kept."""
    kept: list[str] = []
    for doc in (name, name + BACKUP_SUFFIX):
        loaded = store.read(doc, lambda data: _validate(data, key))
        if loaded.corrupt:
            kept.append(str(loaded.kept or store.path(doc)))
        if loaded.data is not None:
            if kept:
                log.warning("DPWS identity %s recovered from its backup %s", name, store.path(doc))
            return loaded.data, kept
    return None, kept


def _next_instance_id(previous: int) -> int:
    candidate = max(previous + 1, int(time.time()))
    if candidate > UNSIGNED_INT_MAX:
        raise IdentityError("AppSequence InstanceId exhausted its xs:unsignedInt range")
    return candidate


def _validate(data: dict, key: str) -> None:
    if data.get("key") != key:
        raise ValueError("the file belongs to another key")
    for field in ("endpoint", "service_id"):
        value = data[field]
        if not isinstance(value, str) or not value.startswith("urn:uuid:"):
            raise ValueError(f"{field} is not a urn:uuid")
        uuid.UUID(value[len("urn:uuid:") :])
    for field in ("metadata_version", "instance_id", "message_number_reserved"):
        value = data[field]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UNSIGNED_INT_MAX:
            raise ValueError(f"{field} is not an xs:unsignedInt")
    if data["metadata_version"] < 1:
        raise ValueError("metadata_version must be at least 1")
    digest = data.get("metadata_digest")
    if digest is not None and not isinstance(digest, str):
        raise ValueError("metadata_digest is not a string")


def _save(store: StateStore, name: str, data: dict) -> bool:
    """Write both copies (best effort: a failure is logged by the store). True when both are on disk."""
    return store.save(name, data) and store.save(name + BACKUP_SUFFIX, data)
