"""normlab_tools.study and scaling: the committed docs' tables are what the committed results give."""
import pytest

pytest.importorskip("matplotlib")

from normlab_tools import scaling, study  # noqa: E402


def test_stability_doc_is_its_results():
    assert study.main(["--check"]) == 0


def test_scaling_doc_is_its_results():
    assert scaling.main(["--check"]) == 0
