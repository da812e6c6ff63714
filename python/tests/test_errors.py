"""Bad input gets an exception with the CLI's one-line message, never an abort."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pointlime


def ok(batch):
    return np.zeros((batch.shape[0], 2), dtype=np.float32)


def test_a_callable_that_raises_is_a_model_error_with_its_cause(data):
    def broken(batch):
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(pointlime.ModelError, match="raised RuntimeError: CUDA out of memory") as e:
        pointlime.explain(data / "dales_objects" / "003.xyz", broken, classes=["a", "b"], samples=50)
    assert isinstance(e.value.__cause__, RuntimeError)
    assert "003.xyz" in str(e.value)


@pytest.mark.parametrize(
    "answer, problem",
    [
        (lambda b: np.zeros((b.shape[0], 3)), r"shape \[\d+, 3\].*expected \[\d+, 2\]"),
        (lambda b: np.zeros(b.shape[0]), r"shape \[\d+\]"),
        (lambda b: np.full((b.shape[0], 2), np.nan), "non-finite"),
        (lambda b: "scores", "could not convert"),
    ],
)
def test_a_callable_that_answers_wrongly_is_a_model_error(data, answer, problem):
    with pytest.raises(pointlime.ModelError, match=problem):
        pointlime.explain(data / "dales_objects" / "003.xyz", answer, classes=["a", "b"], samples=50)


def test_bad_files_are_scan_errors(tmp_path):
    with pytest.raises(pointlime.ScanError, match="missing.ply"):
        pointlime.read(tmp_path / "missing.ply")
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nproperty float x\nend_header\n\x00")
    with pytest.raises(pointlime.ScanError, match="bad.ply"):
        pointlime.read(bad)


@pytest.mark.parametrize("points", [np.zeros((10, 2)), np.zeros(30), [["a", "b", "c"]]])
def test_bad_arrays_are_input_errors(points):
    with pytest.raises(pointlime.InputError):
        pointlime.explain(points, ok, classes=["a", "b"])
    assert issubclass(pointlime.InputError, ValueError)


def test_bad_settings_are_settings_errors(data):
    scan = data / "dales_objects" / "003.xyz"
    with pytest.raises(pointlime.SettingsError, match="unknown setting \"sample\""):
        pointlime.explain(scan, sample=10)
    with pytest.raises(pointlime.SettingsError, match="samples: expected a non-negative integer, got -1"):
        pointlime.explain(scan, samples=-1)
    with pytest.raises(pointlime.SettingsError, match="unknown method"):
        pointlime.explain(scan, method="shapley")
    with pytest.raises(pointlime.SettingsError, match="unknown target \"dog\""):
        pointlime.explain(scan, target="dog")


def test_a_write_that_fails_leaves_nothing(data, tmp_path):
    e = pointlime.explain(data / "dales_objects" / "003.xyz", samples=50)
    with pytest.raises(pointlime.ScanError):
        e.write(tmp_path / "missing-dir" / "o.ply")
    with pytest.raises(pointlime.ScanError, match=r"\.ply, \.las or \.laz"):
        e.write(tmp_path / "o.xyz")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_interrupts_a_slow_callable(data):
    script = textwrap.dedent(
        f"""
        import sys, time, numpy as np
        sys.path.insert(0, {str(pointlime.__file__.rsplit('/pointlime/', 1)[0])!r})
        import pointlime
        def slow(b):
            time.sleep(0.05)
            return np.zeros((b.shape[0], 2), dtype=np.float32)
        print("started", flush=True)
        pointlime.explain({str(data / 'dales_objects' / '003.xyz')!r}, slow, classes=["a", "b"], samples=100000, batch_size=8)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(2)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert "KeyboardInterrupt" in err
    assert time.monotonic() - sent < 10
