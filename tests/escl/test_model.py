"""The eSCL model: every element round-trips through its serializer and parser; what real clients
send parses; bad values are refused."""

from __future__ import annotations

import pytest

from drivers.base import Capabilities, ColorMode, Source, SourceCapabilities
from firmware.escl.capabilities import escl_formats, scanner_capabilities, to_300
from firmware.escl.model import (
    EsclModelError,
    InputCaps,
    JobInfo,
    ScanImageInfo,
    ScannerStatus,
    ScanRegion,
    ScanSettings,
)
from firmware.wire.xml import parse_xml, serialize

SANE_BACKENDS_SETTINGS = b"""<?xml version="1.0" encoding="UTF-8"?><scan:ScanSettings
 xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm" xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03">
 <pwg:Version>2.0</pwg:Version><pwg:ScanRegions><pwg:ScanRegion>
 <pwg:ContentRegionUnits>escl:ThreeHundredthsOfInches</pwg:ContentRegionUnits>
 <pwg:Height>2362</pwg:Height><pwg:Width>2362</pwg:Width><pwg:XOffset>0</pwg:XOffset><pwg:YOffset>0</pwg:YOffset>
 </pwg:ScanRegion></pwg:ScanRegions><pwg:DocumentFormat>image/png</pwg:DocumentFormat>
 <scan:DocumentFormatExt>image/png</scan:DocumentFormatExt><scan:ColorMode>RGB24</scan:ColorMode>
 <scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution>
 <pwg:InputSource>Feeder</pwg:InputSource><scan:InputSource>Feeder</scan:InputSource>
 <scan:Duplex>false</scan:Duplex></scan:ScanSettings>"""


def roundtrip(value):
    return type(value).from_xml(parse_xml(serialize(value.to_xml())))


def test_scan_settings_as_sane_backends_sends_them():
    settings = ScanSettings.from_xml(parse_xml(SANE_BACKENDS_SETTINGS))
    assert settings.regions == (ScanRegion(2362, 2362, 0, 0),)
    assert (settings.input_source, settings.duplex, settings.color_mode) == ("Feeder", False, "RGB24")
    assert (settings.x_resolution, settings.y_resolution, settings.format) == (300, 300, "image/png")
    assert roundtrip(settings) == settings


@pytest.mark.parametrize(
    "settings",
    [
        ScanSettings(),
        ScanSettings(intent="Photo", input_source="Platen", color_mode="Grayscale8", document_format="image/jpeg"),
        ScanSettings(regions=(ScanRegion(100, 200, 3, 4),), duplex=True, document_format_ext="application/pdf"),
    ],
)
def test_scan_settings_round_trip(settings):
    assert roundtrip(settings) == settings


@pytest.mark.parametrize(
    "body",
    [
        b'<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03">'
        b"<scan:XResolution>many</scan:XResolution></scan:ScanSettings>",
        b'<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03">'
        b"<scan:Duplex>maybe</scan:Duplex></scan:ScanSettings>",
        b'<x:Other xmlns:x="urn:x"/>',
        b'<scan:ScanSettings xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" '
        b'xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:ScanRegions><pwg:ScanRegion>'
        b"<pwg:ContentRegionUnits>escl:Millimeters</pwg:ContentRegionUnits><pwg:Width>1</pwg:Width>"
        b"<pwg:Height>1</pwg:Height></pwg:ScanRegion></pwg:ScanRegions></scan:ScanSettings>",
    ],
)
def test_bad_scan_settings_are_refused(body):
    with pytest.raises(EsclModelError):
        ScanSettings.from_xml(parse_xml(body))


CAPS = Capabilities(
    sources={
        Source.FLATBED: SourceCapabilities((75, 300), (ColorMode.COLOR, ColorMode.GRAY), 215.9, 297.0),
        Source.ADF: SourceCapabilities((300,), (ColorMode.GRAY,), 215.9, 355.6),
        Source.ADF_DUPLEX: SourceCapabilities((300,), (ColorMode.GRAY,), 215.9, 355.6),
    }
)


def test_capabilities_from_the_driver_round_trip():
    caps = scanner_capabilities(CAPS, escl_formats(("png", "jfif")), "Acme Scan 1", "test:0", "1234", "http://h/a")
    assert caps.platen is not None and caps.adf_simplex is not None and caps.adf_duplex is not None
    assert (caps.platen.max_width, caps.platen.max_height) == (2550, 3507)  # Letter width, A4 height rounded down
    assert caps.platen.color_modes == ("RGB24", "Grayscale8")
    assert caps.platen.formats == ("image/png", "image/jpeg", "application/pdf")
    assert caps.adf_simplex.resolutions == (300,)
    assert roundtrip(caps) == caps


def test_formats_follow_the_wsd_configuration():
    assert escl_formats(("png",)) == ("image/png",)
    assert escl_formats(("exif", "tiff-single-uncompressed")) == ("image/jpeg", "application/pdf")
    assert escl_formats(("dib",)) == ("image/png",)
    assert to_300(200) == 2362


def test_status_and_image_info_round_trip():
    status = ScannerStatus(
        state="Processing",
        adf_state="ScannerAdfJam",
        jobs=(
            JobInfo("/eSCL/ScanJobs/a", "a", 3, 2, "Processing", ("JobScanning",)),
            JobInfo("/eSCL/ScanJobs/b", "b", 9, 1, "Completed", ("JobCompletedSuccessfully",), 1),
        ),
    )
    assert roundtrip(status) == status
    assert roundtrip(ScannerStatus("Idle")) == ScannerStatus("Idle")
    info = ScanImageInfo("/eSCL/ScanJobs/a", "a", 2362, 2362, 7086)
    assert roundtrip(info) == info


def test_elements_carry_the_prefixes_clients_match():
    text = serialize(ScannerStatus("Idle", "ScannerAdfLoaded").to_xml()).decode()
    assert "<scan:ScannerStatus" in text and "<pwg:State>Idle</pwg:State>" in text
    caps = InputCaps(1, 10, 1, 10, ("RGB24",), ("image/png",), (75,))
    assert "<scan:DocumentFormatExt>image/png" in serialize(caps.to_xml("{x}Caps")).decode()


def test_protocols_are_switched_per_scanner_in_the_configuration():
    from firmware.config import ConfigError, parse

    config = parse({"scanners": {"test:0": {"escl": False}, "test:1": {"wsd": False}}})
    assert (config.overrides_for("test:0", None).escl, config.overrides_for("test:0", None).wsd) == (False, True)
    assert (config.overrides_for("test:1", None).escl, config.overrides_for("test:1", None).wsd) == (True, False)
    with pytest.raises(ConfigError):
        parse({"scanners": {"test:0": {"escl": "no"}}})
