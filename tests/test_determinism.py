"""The same answer every time (issue 28): one index, the bundled suite asked in two processes with other hash
seeds (set and dict order) and other onnxruntime thread counts — every answer, citation, short answer and
confidence (to 1e-6) the same."""

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_suite_asked_in_two_processes_gets_the_same_answers(tmp_path):
    from evals.measure_determinism import differences, run_processes

    runs = run_processes("bundled", 2, tmp_path / "cache")
    assert len(runs[0]) == len(runs[1]) > 50
    assert differences(runs) == []
