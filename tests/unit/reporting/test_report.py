"""The HTML report: which figures appear for which inputs (no sweep, one trial, several, Born-Again)."""

import base64
import re

import pytest

from fastdistill.reporting.html import render_html, write_html_report
from fastdistill.reporting.summary import RunSummary

METRICS = {"rougeL_vs_teacher": 0.3, "top1_agreement": 0.6, "teacher_forced_kl": 1.2, "ece": 0.1,
           "student_tokens_per_s": 20.0, "teacher_tokens_per_s": 10.0, "student_latency_p50_s": 1.0,
           "teacher_latency_p50_s": 2.0, "student_params": 9e7, "teacher_params": 1.35e8, "custom_thing": 7.0}
CURVE = [{"start": 1, "end": 8, "teacher_forced": 0.9, "free_running": 0.8, "teacher_forced_tokens": 8,
          "free_running_tokens": 8},
         {"start": 9, "end": 16, "teacher_forced": 0.85, "free_running": 0.6, "teacher_forced_tokens": 8,
          "free_running_tokens": 8}]


def trial(name, score, best=False):
    return {"trial": name, "params": {"objective": name}, "metrics": {"rougeL_vs_teacher": score, "top1_agreement": 0.5},
            "history": [{"step": s, "loss": 3.0 - s * score, "ce_loss": 2.0, "kd_loss": 1.0} for s in (1, 2, 3)],
            "mlflow_run_id": f"run-{name}", "best": best}


def figures(page: str) -> dict[str, bytes]:
    found = re.findall(r'data-figure="(\w+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return {name: base64.b64decode(data) for name, data in found}


def test_single_run_without_sweep_has_training_efficiency_and_exposure_figures():
    page = render_html(RunSummary("run-1", "completed", METRICS, loss_history={"train/loss": [(1, 3.0), (2, 2.0)]},
                                  details={"exposure_bias": CURVE}))
    figs = figures(page)
    assert set(figs) == {"training", "efficiency", "exposure_bias"}
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in figs.values())
    assert "no sweep comparison: a single training run" in page and "no sweep results" in page
    assert "Born-Again" not in page
    # metric table grouped by the catalog; unknown metrics under "other"
    assert "<td>fidelity</td><td>top1_agreement</td><td>0.6000</td>" in page
    assert "<td>other</td><td>custom_thing</td><td>7.0000</td>" in page


@pytest.mark.parametrize("trials", [[trial("fkl", 0.3, best=True)],
                                    [trial("fkl", 0.3), trial("rkl", 0.4, best=True), trial("jsd", 0.2)]])
def test_sweep_comparison_and_curves_come_from_the_trials(trials):
    page = render_html(RunSummary("run-2", "completed", METRICS, sweep_results=trials))
    assert {"sweep", "training", "efficiency"} <= set(figures(page))
    best = next(t["trial"] for t in trials if t["best"])
    assert f"<b>{best}</b> (best)" in page
    assert page.count('{&quot;objective&quot;:') == len(trials)


def test_born_again_generations_get_a_figure_and_a_table():
    gens = [{"generation": g, "metrics": {"rougeL_vs_teacher": 0.2 + 0.05 * g}, "version": str(g + 1)} for g in (0, 1, 2)]
    page = render_html(RunSummary("run-3", "completed", METRICS, born_again=gens))
    assert "born_again" in figures(page)
    assert "<h2>Born-Again generations</h2>" in page and "rougeL_vs_teacher=0.3000" in page


def test_text_is_escaped_and_the_file_is_written_whole(tmp_path):
    registration = {"name": "m", "version": "2", "aliases": ["challenger"], "decision": "hold",
                    "reason": "rougeL 0.1 < 0.2", "previous_champion": None}
    summary = RunSummary("r<1>", "completed", {}, registration=registration, samples=[{"prompt": "<script>x</script>", "student": "a & b"}],
                         details={"judge": [{"prompt": "<b>", "p_student_as_a": 0.7, "p_student_as_b": 0.4,
                                             "outcome": 0.5, "consistent": False}]})
    path = write_html_report(summary, tmp_path / "out" / "r.html")
    page = path.read_text()
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "a &amp; b" in page and "<td>tie</td>" in page
    assert figures(page) == {} and "no training history" in page
    assert "<p>m v2, aliases [&#x27;challenger&#x27;], decision <b>hold</b></p><p>rougeL 0.1 &lt; 0.2</p>" in page
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]


def test_console_sweep_table_fits_80_columns_with_whole_metric_names():
    from rich.console import Console

    from fastdistill.reporting.summary import sweep_table

    trials = [trial(name, score) for name, score in (("sft", 0.29), ("fkl", 0.31), ("rkl", 0.23), ("jsd", 0.30))]
    trials[1]["best"] = True
    for t in trials:
        t["metrics"].update(rougeL_vs_reference=0.1, teacher_forced_kl=2.0, eval_ce=2.4)
        t["seconds"] = 90.0
    console = Console(width=80, record=True)
    console.print(sweep_table(trials))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for name in ("rougeL_vs_reference", "rougeL_vs_teacher", "teacher_forced_kl", "top1_agreement", "eval_ce"):
        assert name in text
    assert "fkl (best)" in text and "…" not in text
    assert [[cell.strip() for cell in line.split("│")[2:6]] for line in text.splitlines()
            if "rougeL_vs_teacher" in line] == [["0.2900", "0.3100", "0.2300", "0.3000"]]
