"""How tests report schema checks that could not run (tests/xsd.py with ``$WSD_SCAN_SCHEMAS`` absent).

Each case runs a small test file in a pytester sandbox that uses the root
conftest's hooks, with the schemas pointed at an empty directory.
"""

from __future__ import annotations

import pytest

from tests.xsd import require_schemas

CONFTEST = "from tests.conftest import pytest_runtest_call, pytest_runtest_setup  # noqa: F401\n"
BODY = """
from firmware.model import CancelJobResponse
from tests.xsd import assert_invalid, require_schemas, validate

def test_other_assertions_pass():
    validate(CancelJobResponse().to_xml())
    assert 1 + 1 == 2

def test_other_assertion_fails():
    validate(CancelJobResponse().to_xml())
    assert 1 + 1 == 3

def test_negative_check_only():
    assert_invalid(CancelJobResponse().to_xml())

def test_needs_the_files():
    require_schemas()
    raise AssertionError("not reached without the schemas")

def test_no_schema_check():
    assert True
"""


@pytest.fixture
def sandbox(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_sample=BODY)
    return pytester


def test_missing_schemas_skip_only_after_the_other_assertions(sandbox, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WSD_SCAN_SCHEMAS", str(tmp_path / "absent"))
    result = sandbox.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=3)
    reports = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.when == "call"]
    outcomes = {r.nodeid.rsplit("::", 1)[1]: r.outcome for r in reports}
    assert outcomes["test_other_assertion_fails"] == "failed"  # the failure is not hidden by the skip
    assert outcomes["test_no_schema_check"] == "passed"
    result.stdout.fnmatch_lines(
        ["*every other assertion passed; its schema validation did not run: *WDPScan.xsd is missing*ScanService.zip*"]
    )


def test_present_schemas_validate(sandbox) -> None:
    require_schemas()
    result = sandbox.runpytest_inprocess("-p", "no:cacheprovider")
    # with the schemas nothing skips: the valid response validates; the negative check finds it valid and
    # fails, as do the wrong sum and the body after require_schemas()
    result.assert_outcomes(passed=2, failed=3)
