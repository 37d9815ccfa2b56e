"""`dockyard analyze` end to end: transports, text and JSON output, CI gates and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from tests.analyze.images import scenarios


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return scenarios()["overwrite-whiteout-opaque"].write_docker_archive(tmp_path / "img.tar")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["analyze", "--progress", "quiet", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_report_for_a_docker_archive(archive: Path) -> None:
    code, out, err = _run(f"docker-archive:{archive}", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schemaVersion"] == 1
    assert data["wastedBytes"] == 4500
    assert data["reclaimable"]["duplicateBytes"] == 7000
    assert [layer["instruction"] for layer in data["layers"]] == [
        "RUN step 0",
        "RUN step 1",
        "RUN step 2",
    ]


def test_text_report_for_an_oci_layout(busybox_oci: Path) -> None:
    code, out, err = _run(f"oci:{busybox_oci}:1")
    assert code == 0, err
    assert "Efficiency 1.0000" in out
    assert "/bin/busybox" in out


def test_gates_pass_and_fail_with_exit_codes(archive: Path) -> None:
    image = f"docker-archive:{archive}"
    assert (
        _run(image, "--budget", "1MB", "--max-wasted", "4.5kB", "--min-efficiency", "0.8")[0] == 0
    )
    code, out, err = _run(image, "--budget", "20kB", "--format", "json")
    assert code == 1
    assert json.loads(out)["sizeBytes"] == 25096  # the report is still printed
    assert "exceeds the budget of 20 kB" in err
    code, _, err = _run(image, "--min-efficiency", "95%", "--max-wasted", "1KiB")
    assert code == 1
    assert "--min-efficiency" in err
    assert "--max-wasted" in err
    assert "Traceback" not in err


def test_bad_flags_are_usage_errors(archive: Path) -> None:
    code, _, err = _run(f"docker-archive:{archive}", "--budget", "lots")
    assert code == 2
    assert "invalid --budget 'lots'" in err
    code, _, err = _run(f"docker-archive:{archive}", "--min-efficiency", "2")
    assert code == 2


def test_missing_image_is_one_line_error(tmp_path: Path) -> None:
    code, _, err = _run(f"oci:{tmp_path / 'nope'}")
    assert code in (1, 2)
    assert err.startswith("error:")
    assert "Traceback" not in err
