"""The HTML report: which figures appear for which inputs (no sweep, one trial, several, Born-Again), and that
every text the run produced is escaped exactly once by the template."""

import re

import numpy as np
import pytest

from fastdistill.evaluation.scores import Scores
from fastdistill.reporting.figures import efficiency_figure
from fastdistill.reporting.html import render_html, write_html_report
from fastdistill.reporting.summary import RunSummary

METRICS = {"rougeL_vs_teacher": 0.3, "top1_agreement": 0.6, "teacher_forced_kl": 1.2, "ece": 0.1,
           "rougeL_vs_reference": 0.2, "teacher_rougeL_vs_reference": 0.35,
           "student_tokens_per_s": 20.0, "teacher_tokens_per_s": 10.0, "student_latency_p50_s": 1.0,
           "teacher_latency_p50_s": 2.0, "student_params": 9e7, "teacher_params": 1.35e8, "custom_thing": 7.0,
           "eval_examples": 40.0}
ESTIMATES = {"rougeL_vs_teacher": {"value": 0.3, "n": 40, "ci_low": 0.25, "ci_high": 0.36},
             "rougeL_vs_reference": {"value": 0.2, "n": 40, "ci_low": 0.15, "ci_high": 0.26},
             "teacher_rougeL_vs_reference": {"value": 0.35, "n": 40, "ci_low": 0.3, "ci_high": 0.41},
             "top1_agreement": {"value": 0.6, "n": 40, "ci_low": 0.55, "ci_high": 0.65}}
LATENCY = {"student_seconds": [0.5, 0.6, 0.55, 0.52], "teacher_seconds": [1.0, 1.2, 1.1, 1.05], "prompts": 4,
           "new_tokens": 16, "batch_size": 4}
CURVE = [{"start": 1, "end": 8, "teacher_forced": 0.9, "free_running": 0.8, "teacher_forced_tokens": 8,
          "free_running_tokens": 8},
         {"start": 9, "end": 16, "teacher_forced": 0.85, "free_running": 0.6, "teacher_forced_tokens": 8,
          "free_running_tokens": 8}]


def trial(name, score, best=False):
    """A trial as the summary holds it: its validation scores per example (12 prompts), so it has CIs."""
    rng = np.random.default_rng(len(name))
    scores = Scores(split="validation", ids=[f"v{i}" for i in range(12)], per_example={
        "rougeL_vs_teacher": list(np.clip(rng.normal(score, 0.1, 12), 0, 1)),
        "top1_agreement": list(np.clip(rng.normal(0.5, 0.05, 12), 0, 1))})
    return {"trial": name, "params": {"objective": name, "learning_rate": 3e-4}, "scores": scores.model_dump(),
            "metrics": scores.values(), "history": [{"step": s, "loss": 3.0 - s * score, "ce_loss": 2.0, "kd_loss": 1.0}
                                                    for s in (1, 2, 3)],
            "mlflow_run_id": f"run-{name}", "best": best}


def figures(page: str) -> dict[str, str]:
    """Each figure's inline SVG by name."""
    return dict(re.findall(r'<div class="figure" data-figure="(\w+)">(<svg.*?</svg>)\s*</div>', page, re.S))


def errorbars(svg: str) -> dict[str, int]:
    """Error-bar groups by id, with the number of bars (one path each) in each."""
    groups = re.findall(r'<g id="(errorbar-[\w-]+)">(.*?)</g>', svg, re.S)
    return {gid: body.count("<path") for gid, body in groups}


def _summary(name="run-1", **extra) -> RunSummary:
    return RunSummary(name, "completed", METRICS, estimates=ESTIMATES, details={"exposure_bias": CURVE, "latency": LATENCY},
                      splits={"train": 65, "validation": 12, "test": 40}, **extra)


def test_single_run_without_sweep_has_training_quality_efficiency_and_exposure_figures():
    page = render_html(_summary(loss_history={"train/loss": [(1, 3.0), (2, 2.0)]}))
    figs = figures(page)
    assert set(figs) == {"training", "quality", "efficiency", "exposure_bias"}
    assert errorbars(figs["quality"]) == {"errorbar-quality-0": 2}  # student and teacher, rougeL_vs_reference
    assert errorbars(figs["efficiency"]) == {"errorbar-efficiency-0": 2, "errorbar-efficiency-1": 2}
    assert "batch 1, 4 prompts, 16 new tokens (EOS ignored), 95% CI" in figs["efficiency"]
    assert "quality on the test split (n=40), 95% CI" in figs["quality"]
    assert "no sweep comparison: a single training run" in page and "no sweep results" in page
    assert "Born-Again" not in page
    # metric table grouped by the catalog with CI and n; unknown metrics under "other"
    assert "<td>fidelity</td><td>top1_agreement</td><td>0.6000</td><td>[0.55, 0.65]</td><td>40</td>" in page
    assert "<td>other</td><td>custom_thing</td><td>7.0000</td><td></td><td></td>" in page


def test_the_trust_box_comes_first_with_splits_headline_cis_and_every_warning():
    warnings = [{"code": "degenerate_output", "message": "5 of 40 answers loop"},
                {"code": "uninformative_judge", "message": "first-position rate 1.00"}]
    page = render_html(_summary(warnings=warnings, selection={"reason": "tie within noise on validation ..."}))
    assert re.findall(r"<h2>(.*?)</h2>", page)[0] == "How far to trust this"
    box = page[page.index('<section class="trust"'):page.index("</section>")]
    assert "splits: train 65, validation 12, test 40" in box
    assert "metrics: test split, 40 examples" in box and "sweep selection: tie within noise on validation" in box
    assert "<tr><td>rougeL_vs_teacher</td><td>0.30 [0.25, 0.36]</td><td>40</td></tr>" in box
    assert re.findall(r'data-warning="(\w+)"', box) == ["degenerate_output", "uninformative_judge"]
    assert "WARNING degenerate_output: 5 of 40 answers loop" in box
    assert "No health check fired." in render_html(_summary())


@pytest.mark.parametrize("trials", [[trial("fkl", 0.3, best=True)],
                                    [trial("fkl", 0.3), trial("rkl", 0.4, best=True), trial("jsd", 0.2)]])
def test_sweep_comparison_and_curves_come_from_the_trials(trials):
    page = render_html(_summary("run-2", sweep_results=trials))
    figs = figures(page)
    assert {"sweep", "training", "efficiency"} <= set(figs)
    # one panel per trial metric, one error bar per trial in each
    assert errorbars(figs["sweep"]) == {"errorbar-sweep-0": len(trials), "errorbar-sweep-1": len(trials)}
    assert "sweep: trials on the validation split (n=12), 95% CI" in figs["sweep"]
    best = next(t["trial"] for t in trials if t["best"])
    assert f"<b>{best}</b> (chosen)" in page


def test_the_sweep_table_shows_only_the_knobs_that_vary():
    trials = [trial("fkl", 0.3), trial("rkl", 0.4, best=True)]
    page = render_html(_summary(sweep_results=trials))
    table = page[page.index("<th>trial</th>"):]
    table = table[:table.index("</table>")]
    assert "<th>objective</th>" in table and "learning_rate" not in table  # the same in both trials
    assert re.search(r"<td>&#34;fkl&#34;</td><td>0\.\d\d \[0\.\d\d, 0\.\d\d\]</td>", table)


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
SECTIONS = ["How far to trust this", "Registry", "Data quality gate", "Sweep", "Training", "Evaluation (test split)",
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
        data_quality={"rows_in": 10, SCRIPT: 1}, sweep_results=trials, estimates=ESTIMATES,
        warnings=[{"code": "small_test_set", "message": SCRIPT}], selection={"reason": SCRIPT},
        born_again=[{"generation": g, "metrics": {"rougeL_vs_teacher": 0.2 + 0.05 * g}, "version": SCRIPT} for g in (0, 1)],
        details={"exposure_bias": CURVE, "latency": LATENCY, "judge": [{"prompt": SCRIPT, "p_student_as_a": 0.7, "p_student_as_b": 0.4,
                                                    "outcome": 1.0, "consistent": True}]},
    )


def test_every_section_and_one_div_per_figure_with_the_count_script():
    page = render_html(_everything())
    for heading in SECTIONS:
        assert page.count(f"<h2>{heading}</h2>") == 1, heading
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS  # in this order, and no others
    names = list(figures(page))
    assert sorted(names) == ["born_again", "efficiency", "exposure_bias", "quality", "sweep", "training"]
    assert page.count("data-figure=") == len(names)  # what steps/report.py logs as "figures"
    # the inline script that sets the figure and error-bar counts on the body, unescaped
    assert "body.setAttribute('data-figures',figs.length);" in page
    assert "body.setAttribute('data-errorbars-rendered',drawn);" in page
    assert "querySelectorAll('svg [id^=\"errorbar-\"]')" in page


def test_a_figure_is_embedded_verbatim_as_inline_svg():
    svg = efficiency_figure(LATENCY)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<?xml" not in svg
    assert f'<div class="figure" data-figure="efficiency">{svg}' in render_html(_summary())


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
    assert "<th>note</th>" in page  # a knob that varies between the trials
    assert r"<td>&#34;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; \&#34;q\&#34;&#34;</td>" in page
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
    assert "fkl (chosen)" in text and "…" not in text
    row = next(line for line in text.splitlines() if "rougeL_vs_teacher" in line).split()
    below = text.splitlines()[text.splitlines().index(next(line for line in text.splitlines()
                                                             if "rougeL_vs_teacher" in line)) + 1]
    assert all(re.fullmatch(r"0\.\d\d", cell) for cell in row[1:]) and len(row) == 5  # each trial's mean
    assert len(re.findall(r"\[0\.\d\d, 0\.\d\d\]", below)) == 4  # and its CI on the line below
