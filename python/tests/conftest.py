"""Where the tests find the shared data and the CLI, and what they may skip.

The package is imported from python/ (the extension module beside it: `.ci/run` links the
workspace's dev build there, `maturin develop` installs it). Real data comes from POINTLIME_DATA
(default ../shared/data beside the repository) and torch from the system; CI sets
POINTLIME_REQUIRE_DATA=1 and POINTLIME_REQUIRE_TORCH=1 so that neither is skipped there."""

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))


def _required(var):
    return os.environ.get(var) == "1"


@pytest.fixture(scope="session")
def data():
    d = pathlib.Path(os.environ.get("POINTLIME_DATA", ROOT.parent / "shared" / "data"))
    if not (d / "dales_objects").is_dir():
        if _required("POINTLIME_REQUIRE_DATA"):
            pytest.fail(f"{d}: no shared data (POINTLIME_REQUIRE_DATA=1)")
        pytest.skip(f"{d}: no shared data")
    return d


@pytest.fixture(scope="session")
def torch():
    try:
        import torch
    except ImportError:
        if _required("POINTLIME_REQUIRE_TORCH"):
            pytest.fail("torch is not installed (POINTLIME_REQUIRE_TORCH=1): apt-get install python3-torch")
        pytest.skip("torch is not installed")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def cli():
    exe = pathlib.Path(os.environ.get("POINTLIME_BIN", ROOT / "target" / "debug" / "pointlime"))
    if not exe.is_file():
        pytest.fail(f"{exe}: no pointlime binary (build it, or set POINTLIME_BIN)")
    return exe
