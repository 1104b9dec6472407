"""The one template folder: every HTML view renders from it with autoescaping, and it ships with the package."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import jinja2
import pandas as pd
import pytest

from fastdistill.inference.topk_store import TeacherMeta, TeacherOutputs
from fastdistill.reporting.templating import environment, render

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "fastdistill" / "reporting" / "templates"
VIEWS = {"report.html.j2", "gate_report.html.j2", "dataset_preview.html.j2", "teacher_outputs.html.j2"}
TEXT_VIEWS = {"model_card.md.j2"}  # Markdown, rendered unescaped by `render_text`


def test_every_view_is_a_template_in_the_one_folder_and_ships_with_the_package():
    assert {p.name for p in TEMPLATES.iterdir()} == VIEWS | TEXT_VIEWS
    assert set(environment().list_templates()) == VIEWS | TEXT_VIEWS
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["fastdistill.reporting"]
    for name in VIEWS | TEXT_VIEWS:
        assert any(fnmatch.fnmatch(f"templates/{name}", g) for g in globs), name


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_templates_autoescape_and_reject_undefined_names(name):
    template = environment().get_template(name)
    assert environment().autoescape(name) is True
    with pytest.raises(jinja2.UndefinedError):
        template.render()  # a missing value fails loudly instead of leaving a blank


def test_the_markdown_card_is_not_html_escaped_and_rejects_undefined_names():
    from fastdistill.reporting.templating import text_environment

    assert text_environment().autoescape is False
    with pytest.raises(jinja2.UndefinedError):
        text_environment().get_template("model_card.md.j2").render()


def test_render_escapes_once_and_keeps_markup_it_is_told_is_safe():
    page = render("gate_report.html.j2", headline="<script>x</script> &amp;", results=[], counts={})
    assert "<h3>&lt;script&gt;x&lt;/script&gt; &amp;amp;</h3>" in page  # the text '&amp;' shown as typed


def test_teacher_outputs_preview_escapes_a_script_prompt_once():
    from materializers.teacher_outputs import preview_html

    frame = pd.DataFrame({"id": ["a", "b"], "split": ["train", "eval"], "category": "c",
                          "prompt": ["<script>alert('x')</script>", "p & q"], "reference": None, "prompt_ids": [[1], [2]],
                          "response_ids": [[1, 2, 3], [4]], "response_text": ["<i>r</i>", "s"],
                          "topk_ids": [None, None], "topk_logprobs": [None, None]})
    page = preview_html(TeacherOutputs(frame, TeacherMeta("tiny<teacher>", 8, 0.0, 16, "sha")))
    assert "<script>" not in page and "<i>" not in page and "&amp;lt;" not in page
    assert "<h3>Teacher outputs: 2 rows, 4 tokens, top-8 from tiny&lt;teacher&gt;</h3>" in page
    assert re.findall(r"<th>(.*?)</th>", page) == ["split", "prompt", "teacher response", "tokens"]
    assert ("<tr><td>train</td><td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td><td>&lt;i&gt;r&lt;/i&gt;</td>"
            "<td>3</td></tr>") in page
    assert "<tr><td>eval</td><td>p &amp; q</td><td>s</td><td>1</td></tr>" in page
