"""The one Jinja2 environment every HTML view renders through.

The templates live in `fastdistill/reporting/templates/` and ship with the
package (pyproject's `[tool.setuptools.package-data]`): the run report, the
quality gate's report, the prompt-dataset preview and the teacher-outputs
preview. Autoescaping is on for `.html`/`.j2` files, so a value is escaped
exactly once, by the template; only markup FastDistill made itself (a
figure's base64 data URI) is passed in as `markupsafe.Markup`. Undefined
names raise instead of rendering as empty text.
"""

from __future__ import annotations

from functools import cache

import jinja2

TEMPLATE_PACKAGE = "fastdistill.reporting"
TEMPLATE_FOLDER = "templates"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context) -> str:
    """The template `name` (e.g. "report.html.j2") rendered with `context`."""
    return environment().get_template(name).render(**context)


@cache
def text_environment() -> jinja2.Environment:
    """For the Markdown templates (the model card): nothing is HTML-escaped there."""
    return jinja2.Environment(loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER), autoescape=False,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def render_text(name: str, **context) -> str:
    """A Markdown template (e.g. "model_card.md.j2") rendered with `context`, unescaped."""
    return text_environment().get_template(name).render(**context)
