"""The public interface of polyflow.matrix, and what importing it loads."""

import subprocess
import sys

import pytest

import polyflow.matrix
from tests.conftest import ROOT


def test_the_public_names():
    assert polyflow.matrix.__all__ == [
        "MatrixError", "TrialView", "Verdict", "best_trial", "early_stop", "expand", "group_status", "size",
    ]
    assert issubclass(polyflow.matrix.MatrixError, ValueError)


@pytest.mark.parametrize("first", ["polyflow.matrix", "polyflow.spec", "polyflow.spec.plan", "polyflow.spec.compiler",
                                   "polyflow.spec.schemas.documents", "polyflow.matrix.spaces"])
def test_imports_in_any_order_and_without_django(first):
    # The compiler imports polyflow.matrix, which imports the spec's leaf modules: no cycle
    # whichever is imported first, and nothing of Django.
    code = (f"import {first}, polyflow.matrix, polyflow.spec, sys\n"
            "from polyflow.spec import check\n"
            "loaded = [name for name in sys.modules if name.split('.')[0] == 'django']\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
