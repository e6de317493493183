"""The SANE mappings without libsane: option descriptors <-> capabilities and settings,
status texts -> conditions, USB ids from sysfs. Descriptors are written as python-sane
lists them (``SaneDev.get_options()`` tuples)."""

from __future__ import annotations

import pytest

from drivers.base import ColorMode, Condition, ScannerError, ScanParameters, Source
from drivers.sane import options
from drivers.sane.discovery import scanner_info, usb_id_for
from drivers.sane.errors import condition_from_sane, error_from_sane
from drivers.sane.options import (
    CAP_INACTIVE,
    COMMON_RESOLUTIONS,
    TYPE_FIXED,
    TYPE_INT,
    TYPE_STRING,
    UNIT_DPI,
    UNIT_MM,
    UNIT_NONE,
)

SETTABLE = 5  # SANE_CAP_SOFT_SELECT | SANE_CAP_SOFT_DETECT


def opt(index, name, type_, constraint, unit=UNIT_NONE, cap=SETTABLE):
    return (index, name, name.title(), "", type_, unit, 4, cap, constraint)


def device(sources=None, modes=("Gray", "Color"), resolution=(1.0, 1200.0, 1.0), bed=(200.0, 200.0), extra=()):
    """Descriptors shaped like the `test` backend's, with the given lists."""
    raw = [
        (0, "", "Number of options", "", TYPE_INT, UNIT_NONE, 4, 4, None),
        (1, "", "Scan Mode", "", 5, UNIT_NONE, 0, 0, None),  # a group: dropped
        opt(2, "mode", TYPE_STRING, list(modes)),
        opt(3, "depth", TYPE_INT, [1, 8, 16]),
        opt(4, "resolution", TYPE_FIXED, resolution if isinstance(resolution, (tuple, list)) else None, UNIT_DPI),
        opt(5, "tl-x", TYPE_FIXED, (0.0, bed[0], 1.0), UNIT_MM),
        opt(6, "tl-y", TYPE_FIXED, (0.0, bed[1], 1.0), UNIT_MM),
        opt(7, "br-x", TYPE_FIXED, (0.0, bed[0], 1.0), UNIT_MM),
        opt(8, "br-y", TYPE_FIXED, (0.0, bed[1], 1.0), UNIT_MM),
        *extra,
    ]
    if sources is not None:
        raw.append(opt(9, "source", TYPE_STRING, list(sources)))
    return options.descriptor_map(raw)


# -- status texts -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, condition",
    [
        ("Document feeder jammed", Condition.JAMMED),
        ("Scanner cover is open", Condition.COVER_OPEN),
        ("Document feeder out of documents", Condition.NO_DOCS),
        ("Device busy", Condition.DEVICE_BUSY),
        ("Lamp not ready, please retry", Condition.WARMING_UP),
        ("Unknown SANE status code 12", Condition.WARMING_UP),
        ("Operation was canceled", Condition.CANCELLED),
        ("Operation was cancelled", Condition.CANCELLED),
        ("Error during device I/O", Condition.IO_ERROR),
        ("Invalid argument", Condition.IO_ERROR),
        ("Access to resource has been denied", Condition.IO_ERROR),
        ("Something new in sane-backends 9", Condition.IO_ERROR),
    ],
)
def test_status_text_to_condition(text, condition):
    assert condition_from_sane(text) is condition


@pytest.mark.parametrize(
    "text, condition",
    [
        ("Invalid argument", Condition.DEVICE_GONE),  # unknown device name
        ("Error during device I/O", Condition.DEVICE_GONE),
        ("Access to resource has been denied", Condition.DEVICE_GONE),
        ("Device busy", Condition.DEVICE_BUSY),  # another program has it
    ],
)
def test_status_text_when_opening(text, condition):
    assert condition_from_sane(text, opening=True) is condition


def test_error_keeps_the_text_with_its_context():
    err = error_from_sane("Document feeder jammed", context="sane_read")
    assert isinstance(err, ScannerError)
    assert err.condition is Condition.JAMMED and err.message == "sane_read: Document feeder jammed"


# -- names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        (
            ["Flatbed", "Automatic Document Feeder"],
            {Source.FLATBED: "Flatbed", Source.ADF: "Automatic Document Feeder"},
        ),
        (["FlatBed", "ADF", "Duplex"], {Source.FLATBED: "FlatBed", Source.ADF: "ADF", Source.ADF_DUPLEX: "Duplex"}),
        (
            ["Flatbed", "ADF Front", "ADF Back", "ADF Duplex"],
            {Source.FLATBED: "Flatbed", Source.ADF: "ADF Front", Source.ADF_DUPLEX: "ADF Duplex"},
        ),
        (["ADF", "ADF Front"], {Source.ADF: "ADF"}),  # the first one wins
        (["Transparency Adapter"], {Source.FLATBED: None}),  # nothing usable: the one source, unset
    ],
)
def test_source_names(values, expected):
    assert options.source_values(device(sources=values)) == expected


def test_no_source_option_means_one_flatbed():
    assert options.source_values(device()) == {Source.FLATBED: None}


@pytest.mark.parametrize(
    "values, expected",
    [
        (
            ["Lineart", "Gray", "Color"],
            {ColorMode.LINEART: "Lineart", ColorMode.GRAY: "Gray", ColorMode.COLOR: "Color"},
        ),
        (
            ["Binary", "Grayscale", "Colour"],
            {ColorMode.LINEART: "Binary", ColorMode.GRAY: "Grayscale", ColorMode.COLOR: "Colour"},
        ),
        (
            ["Black & White", "Gray[Error Diffusion]", "True Gray", "24bit Color", "Halftone"],
            {ColorMode.LINEART: "Black & White", ColorMode.GRAY: "True Gray", ColorMode.COLOR: "24bit Color"},
        ),
    ],
)
def test_mode_names(values, expected):
    assert options.mode_values(device(modes=values)) == expected


# -- capabilities -----------------------------------------------------------------


@pytest.mark.parametrize(
    "constraint, expected",
    [
        ((1.0, 1200.0, 1.0), COMMON_RESOLUTIONS),
        ((50.0, 2400.0, 50.0), (100, 150, 200, 300, 400, 600, 1200)),  # 75 is off the 50 dpi steps
        ((100.0, 600.0, 0.0), (100, 150, 200, 300, 400, 600)),
        ((10.0, 60.0, 1.0), (60,)),  # no common value inside: the maximum
        ([1200, 75, 150.0, 300, 600, 2400], (75, 150, 300, 600, 1200, 2400)),  # a list, sorted
    ],
)
def test_resolutions(constraint, expected):
    assert options.resolutions(device(resolution=constraint)["resolution"]) == expected


def test_source_capabilities_from_descriptors():
    caps = options.source_capabilities(device(modes=("Gray", "Color", "Lineart"), bed=(215.9, 297.0)))
    assert caps.modes == (ColorMode.COLOR, ColorMode.GRAY, ColorMode.LINEART)
    assert (caps.max_width_mm, caps.max_height_mm) == (215.9, 297.0)
    assert (caps.min_width_mm, caps.min_height_mm) == (0.0, 0.0)


def test_build_capabilities_defaults_and_controls():
    levels = (opt(20, "brightness", TYPE_INT, (-100, 100, 1)),)
    descs = device(resolution=[150, 600], extra=levels)
    per_source = {Source.ADF: options.source_capabilities(descs), Source.FLATBED: options.source_capabilities(descs)}
    caps = options.build_capabilities(per_source, descs)
    assert list(caps.sources) == [Source.FLATBED, Source.ADF]
    assert caps.default_resolution == 150  # nearest to 300, the lower on a tie
    assert caps.default_mode is ColorMode.COLOR
    assert caps.brightness and not caps.contrast


def test_inactive_option_is_not_a_control():
    levels = (opt(20, "contrast", TYPE_INT, (-100, 100, 1), cap=SETTABLE | CAP_INACTIVE),)
    descs = device(extra=levels)
    caps = options.build_capabilities({Source.FLATBED: options.source_capabilities(descs)}, descs)
    assert not caps.contrast


# -- settings ---------------------------------------------------------------------


def test_scan_settings_in_order_clamped_and_quantized():
    descs = device(sources=["Flatbed", "Automatic Document Feeder"])
    params = ScanParameters(Source.ADF, ColorMode.GRAY, 299, 10.3, 20.0, 35.4, 250.0)
    assert options.scan_settings(params, descs) == [
        ("source", "Automatic Document Feeder"),
        ("mode", "Gray"),
        ("depth", 8),
        ("resolution", 299.0),
        ("tl-x", 0.0),
        ("tl-y", 0.0),
        ("br-x", 35.0),  # 1 mm steps
        ("br-y", 200.0),  # clamped to the bed
        ("tl-x", 10.0),
        ("tl-y", 20.0),
    ]


def test_resolution_from_a_list_is_the_nearest_entry():
    descs = device(resolution=[75, 150, 300, 600])
    params = ScanParameters(Source.FLATBED, ColorMode.COLOR, 200, 0, 0, 10, 10)
    assert ("resolution", 150.0) in options.scan_settings(params, descs)


def test_a_source_or_mode_the_device_lacks_is_an_io_error():
    descs = device(sources=["Flatbed"])
    for params in (
        ScanParameters(Source.ADF, ColorMode.COLOR, 300, 0, 0, 10, 10),
        ScanParameters(Source.FLATBED, ColorMode.LINEART, 300, 0, 0, 10, 10),
    ):
        with pytest.raises(ScannerError) as exc:
            options.scan_settings(params, descs)
        assert exc.value.condition is Condition.IO_ERROR


def test_lineart_keeps_the_device_depth():
    descs = device(modes=("Lineart", "Gray"))
    params = ScanParameters(Source.FLATBED, ColorMode.LINEART, 300, 0, 0, 10, 10)
    settings = options.scan_settings(params, descs)
    assert ("mode", "Lineart") in settings and all(name != "depth" for name, _ in settings)


@pytest.mark.parametrize(
    "constraint, level, expected",
    [
        ((-100, 100, 1), 500, 50),
        ((-100, 100, 1), -1000, -100),
        ((0, 255, 1), 1000, 255),
        ((0, 200, 1), -500, 50),  # 0 at an end: the middle is "unchanged"
    ],
)
def test_brightness_levels_are_scaled_onto_the_range(constraint, level, expected):
    descs = device(extra=(opt(20, "brightness", TYPE_INT, constraint),))
    params = ScanParameters(Source.FLATBED, ColorMode.COLOR, 300, 0, 0, 10, 10, brightness=level)
    assert ("brightness", expected) in options.scan_settings(params, descs)


def test_level_zero_sets_nothing():
    descs = device(extra=(opt(20, "brightness", TYPE_INT, (-100, 100, 1)),))
    params = ScanParameters(Source.FLATBED, ColorMode.COLOR, 300, 0, 0, 10, 10)
    assert all(name != "brightness" for name, _ in options.scan_settings(params, descs))


@pytest.mark.parametrize(
    "type_, value, expected",
    [
        (TYPE_FIXED, 3, 3.0),
        (TYPE_INT, "42", 42),
        (0, "yes", 1),  # TYPE_BOOL
        (0, False, 0),
        (TYPE_STRING, "Color pattern", "Color pattern"),
    ],
)
def test_typed_values(type_, value, expected):
    desc = options.OptionDescriptor(1, "x", "X", type_, UNIT_NONE, 4, SETTABLE, None)
    result = options.typed(desc, value)
    assert result == expected and type(result) is type(expected)


def test_python_sane_names_become_sane_names():
    assert options.sane_name("test_picture") == "test-picture"
    assert options.sane_name("read-delay") == "read-delay"


# -- USB ids ------------------------------------------------------------------------


def test_usb_id_from_sysfs(tmp_path):
    for entry, bus, dev, vendor, product in (("1-1", 1, 4, "04a9", "190d"), ("2-3", 2, 4, "04b8", "0142")):
        folder = tmp_path / entry
        folder.mkdir()
        for name, value in (("busnum", bus), ("devnum", dev), ("idVendor", vendor), ("idProduct", product)):
            (folder / name).write_text(f"{value}\n")
    (tmp_path / "usb1").mkdir()  # a root hub without the files
    assert usb_id_for("genesys:libusb:002:004", str(tmp_path)) == "04b8:0142"
    assert usb_id_for("pixma:libusb:001:004", str(tmp_path)) == "04a9:190d"
    assert usb_id_for("genesys:libusb:003:004", str(tmp_path)) is None
    assert usb_id_for("test:0", str(tmp_path)) is None
    assert usb_id_for("net:host:genesys:libusb:001:004", str(tmp_path / "missing")) is None
    info = scanner_info("genesys:libusb:002:004", "Canon", "LiDE", "flatbed scanner", str(tmp_path))
    assert (info.usb_id, info.usb_port, info.stable_key) == ("04b8:0142", "2-3", "usb:04b8:0142@2-3")
    assert scanner_info("test:0", "Noname", "frontend-tester", "virtual device", str(tmp_path)).stable_key == "test:0"
