"""The HTML report: which figures appear for which inputs (no sweep, one trial, several, Born-Again), and that
every text the run produced is escaped exactly once by the template."""

import base64
import re

import pytest

from fastdistill.reporting.figures import efficiency_figure
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
    assert page.count('{&#34;objective&#34;:') == len(trials)


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
    assert "<p>m v2, aliases [&#39;challenger&#39;], decision <b>hold</b></p><p>rougeL 0.1 &lt; 0.2</p>" in page
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]


SCRIPT = "<script>alert('x')</script> & \"q\""
SCRIPT_ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;q&#34;"
SECTIONS = ["Registry", "Data quality gate", "Sweep", "Training", "Evaluation (held-out split)",
            "Teacher vs student efficiency", "Exposure bias", "Born-Again generations",
            "Judge (each pair in both orders)", "Samples"]


def _everything() -> RunSummary:
    """A run with every section filled and a hostile string in every free-text field."""
    trials = [trial("fkl", 0.3), trial("rkl", 0.4, best=True)]
    trials[0]["params"]["note"] = SCRIPT
    return RunSummary(
        f"run {SCRIPT}", SCRIPT, {**METRICS, SCRIPT: 1.0},
        registration={"name": SCRIPT, "version": "3", "aliases": ["challenger"], "decision": SCRIPT,
                      "reason": SCRIPT, "previous_champion": "2"},
        samples=[{"prompt": SCRIPT, "reference": SCRIPT, "teacher": SCRIPT, "student": SCRIPT}],
        loss_history={"train/loss": [(1, 3.0), (2, 2.0)]}, tracking_uri=f"file:///m?a=1&b={SCRIPT}", mlflow_run_id=SCRIPT,
        data_quality={"rows_in": 10, SCRIPT: 1}, sweep_results=trials,
        born_again=[{"generation": g, "metrics": {"rougeL_vs_teacher": 0.2 + 0.05 * g}, "version": SCRIPT} for g in (0, 1)],
        details={"exposure_bias": CURVE, "judge": [{"prompt": SCRIPT, "p_student_as_a": 0.7, "p_student_as_b": 0.4,
                                                    "outcome": 1.0, "consistent": True}]},
    )


def test_every_section_and_one_img_per_figure_with_the_count_script():
    page = render_html(_everything())
    for heading in SECTIONS:
        assert page.count(f"<h2>{heading}</h2>") == 1, heading
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS  # in this order, and no others
    names = re.findall(r'<img data-figure="(\w+)" src="data:image/png;base64,', page)
    assert sorted(names) == ["born_again", "efficiency", "exposure_bias", "sweep", "training"]
    assert page.count("<img") == page.count("data-figure=") == len(names)  # what steps/report.py logs as "figures"
    # the inline script that sets data-figures / data-figures-rendered on the body, unescaped
    assert "document.body.setAttribute('data-figures',imgs.length);" in page
    assert "document.body.setAttribute('data-figures-rendered',ok);" in page
    assert "querySelectorAll('img[data-figure]')" in page


def test_a_figure_data_uri_is_embedded_verbatim():
    uri = efficiency_figure(METRICS)
    assert uri.startswith("data:image/png;base64,")
    assert f'<img data-figure="efficiency" src="{uri}" alt="efficiency">' in render_html(RunSummary("r", "ok", METRICS))


def test_a_script_in_any_text_is_escaped_once_in_every_section():
    page = render_html(_everything())
    assert "<script>alert" not in page and "&amp;lt;" not in page and "&amp;amp;" not in page
    # exactly one <script> element: the page's own figure counter
    assert page.count("<script>") == 1 and page.count("</script>") == 1
    assert f"<title>FastDistill run {SCRIPT_ESCAPED}</title>" in page
    assert f"<h1>FastDistill run run {SCRIPT_ESCAPED}</h1><p>Status: <b>{SCRIPT_ESCAPED}</b>." in page
    assert f"MLflow run {SCRIPT_ESCAPED} at file:///m?a=1&amp;b={SCRIPT_ESCAPED}." in page
    assert (f"<p>{SCRIPT_ESCAPED} v3, aliases [&#39;challenger&#39;], decision <b>{SCRIPT_ESCAPED}</b>, "
            f"previous champion v2</p><p>{SCRIPT_ESCAPED}</p>") in page
    assert f"<tr><td>{SCRIPT_ESCAPED}</td><td>1</td></tr>" in page  # data quality counts
    assert r"&#34;note&#34;: &#34;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; \&#34;q\&#34;&#34;" in page  # params
    assert f"<td>other</td><td>{SCRIPT_ESCAPED}</td><td>1.0000</td>" in page  # metric table
    assert f"<td>1</td><td>{SCRIPT_ESCAPED}</td><td>rougeL_vs_teacher=0.2500</td>" in page  # Born-Again
    assert f"<tr><td>{SCRIPT_ESCAPED}</td><td>0.700</td><td>0.400</td><td>student</td></tr>" in page  # judge
    assert f"<tr>{f'<td>{SCRIPT_ESCAPED}</td>' * 4}</tr>" in page  # samples


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
