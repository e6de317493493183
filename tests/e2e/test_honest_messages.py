"""What a person sees when the scanner is unplugged, the feeder is empty or the cover open:
sane-airscan's `scanimage` against the service on the fake driver, and the service's log.

* An empty feeder is "Document feeder out of documents" at ``sane_start`` (CreateScanJob
  answers ClientErrorNoImagesAvailable), not a scanned page or a ``sane_read`` error.
* An unplugged scanner is "Error during device I/O", not "Device busy" (which would make a
  person wait instead of re-plug it); the log line says what to do.
* The normal end of an ADF batch logs nothing above INFO; the access lines name the operation.
* An open cover is a WARNING naming CreateScanJob and the fault, with advice; never an ERROR.
* A misspelled ``sane_options`` key is reported with the device's option names, and the scanner
  is served without it (the real service on libsane's `test` backend).
"""

from __future__ import annotations

import logging

import pytest

from drivers.base import Condition
from drivers.fake import FakeScanner
from firmware.scan.conditions import advice_for
from tests.airscan import DEVICE, airscan_dir, scanimage
from tests.inprocess import serve
from tests.sane_env import write_sane_dir
from tests.servers import running_service

pytestmark = pytest.mark.e2e


def _scan(tmp_path, url, *args):
    client = airscan_dir(tmp_path / "client", url)
    return scanimage(client, "-d", DEVICE, "--resolution", "75", "--format=png", *args, "-o", str(tmp_path / "x.png"))


def _lines(caplog, level=logging.DEBUG):
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= level]


def test_empty_feeder_is_out_of_documents_at_sane_start(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeScanner(adf_pages=0)
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        result = _scan(tmp_path, url, "--source", "ADF")
    assert result.returncode == 7, result.stderr  # SANE_STATUS_NO_DOCS
    assert "sane_start: Document feeder out of documents" in result.stderr
    assert not (tmp_path / "x.png").exists() or (tmp_path / "x.png").stat().st_size == 0
    lines = _lines(caplog)
    assert any(
        level == logging.INFO and "CreateScanJob -> ClientErrorNoImagesAvailable" in text for level, text in lines
    )
    assert any(advice_for(Condition.NO_DOCS) in text for _, text in lines)
    assert _lines(caplog, logging.WARNING) == []


def test_unplugged_scanner_is_an_io_error_not_device_busy(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fake = FakeScanner()
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        fake.unplug()
        result = _scan(tmp_path, url)
    assert result.returncode == 9, result.stderr  # SANE_STATUS_IO_ERROR
    assert "Error during device I/O" in result.stderr
    assert "Device busy" not in result.stderr
    warnings = _lines(caplog, logging.WARNING)
    assert any("re-plug" in text and "scanimage -L" in text for _, text in warnings), warnings
    assert not [text for level, text in warnings if level >= logging.ERROR]


def test_adf_batch_end_is_info_and_access_lines_name_the_operation(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fake = FakeScanner(adf_pages=3)
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        client = airscan_dir(tmp_path / "client", url)
        result = scanimage(
            client,
            "-d",
            DEVICE,
            "--source",
            "ADF",
            "--resolution",
            "75",
            "--format=png",
            f"--batch={tmp_path}/p%d.png",
        )
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("p*.png"))) == 3
    assert _lines(caplog, logging.WARNING) == []
    access = [text for level, text in _lines(caplog) if level == logging.INFO and " POST " in text]
    assert sum(" RetrieveImage (" in text for text in access) == 3, access
    assert any(" RetrieveImage -> ClientErrorNoImagesAvailable " in text for text in access), access
    assert any(" CreateScanJob (" in text for text in access), access


def test_open_cover_is_a_warning_with_the_operation_and_advice(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fake = FakeScanner(fail_with=Condition.COVER_OPEN, fail_at_page=0)
    with serve(fake, tmp_path / "state") as (_app, url, _loop):
        result = _scan(tmp_path, url)
    assert result.returncode == 8, result.stderr  # SANE_STATUS_COVER_OPEN
    lines = _lines(caplog)
    assert not [text for level, text in lines if level >= logging.ERROR], lines
    assert any(
        level == logging.WARNING and "CreateScanJob -> ServerErrorNotAcceptingJobs" in text for level, text in lines
    )
    assert any(level == logging.WARNING and advice_for(Condition.COVER_OPEN) in text for level, text in lines)


@pytest.mark.sane
@pytest.mark.service
def test_misspelled_sane_option_is_reported_with_the_device_options_and_the_scanner_still_served(tmp_path):
    sane = write_sane_dir(tmp_path / "sane")
    config = tmp_path / "config.toml"
    config.write_text('[scanners."test:0"]\nsane_options = { read_delya = true }\n')
    with running_service(sane, tmp_path / "state", "--config", str(config)) as service:
        result = _scan(tmp_path, service.url)
        log = service.log_text()
    assert result.returncode == 0, result.stderr + log
    assert "sane_options has 'read_delya', which this device has no option for; served without it" in log
    assert "read-delay" in log.split("the options it has:", 1)[1]  # the name meant is listed
