"""The PromptDataset's HTML preview (the dashboard's view of candidates, gated prompts and the quarantine)."""

from __future__ import annotations

import re

import pandas as pd

from fastdistill.data.prompt_dataset import PromptDataset

SCRIPT = "<script>alert('x')</script> & \"q\""
SCRIPT_ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;q&#34;"


def _quarantine(n: int) -> PromptDataset:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "split": "train", "source": "seed", "operator": None,
                          "category": "open_qa", "prompt_tokens": list(range(3, n + 3)), "prompt": SCRIPT,
                          "reasons": "too short: 5 < 8 chars", "extra_column": "not shown"})
    return PromptDataset.of(frame, "quarantine")


def test_preview_escapes_a_script_prompt_once():
    page = _quarantine(3).preview_html()
    assert "<script>" not in page and "&amp;lt;" not in page and "&amp;amp;" not in page
    assert page.count(f"<td>{SCRIPT_ESCAPED}</td>") == 3
    assert "<td>too short: 5 &lt; 8 chars</td>" in page


def test_preview_shows_heading_summary_facts_and_the_main_columns():
    data = _quarantine(3)
    page = data.preview_html()
    assert "<h3>quarantine: 3 rows</h3>" in page
    facts = dict(re.findall(r"<li><b>(.*?)</b>: (.*?)</li>", page))
    assert list(facts) == list(data.summary())
    assert facts["rows"] == "3" and facts["kind"] == "&#34;quarantine&#34;"
    assert facts["rejections"] == "{&#34;rejected/too short&#34;: 3}"  # JSON, escaped once
    assert facts["rows_per_operator"] == "{&#34;none&#34;: 3}"
    header = re.findall(r"<th>(.*?)</th>", page)
    assert header == ["id", "split", "source", "operator", "category", "prompt_tokens", "prompt", "reasons"]
    assert "not shown" not in page
    assert ("<tr><td>r0</td><td>train</td><td>seed</td><td>None</td><td>open_qa</td><td>3</td>"
            f"<td>{SCRIPT_ESCAPED}</td><td>too short: 5 &lt; 8 chars</td></tr>") in page
    assert "rows shown" not in page


def test_preview_of_a_long_dataset_shows_the_first_rows_and_says_so():
    page = _quarantine(12).preview_html(rows=5)
    assert "<h3>quarantine: 12 rows</h3>" in page
    assert re.findall(r"<tr><td>(r\d+)</td>", page) == ["r0", "r1", "r2", "r3", "r4"]
    assert "<p>first 5 rows shown</p>" in page
    assert "rows shown" not in _quarantine(5).preview_html(rows=5)
