"""The lead form as HTML: the page, the same page with the person's values and their errors, and the thank-you page.

Plain server-rendered HTML, no JavaScript: validation happens on the server (the same
`LeadSubmission` contract the JSON endpoint uses) and errors are shown next to each field.
Each page carries a one-time token (a hidden field), so the same page sent twice is one lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

__all__ = ["FIELDS", "TOKEN_FIELD", "render_form", "render_thanks"]

FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("name", "Your name", "text", True),
    ("email", "Work e-mail", "email", True),
    ("company_name", "Company", "text", True),
    ("company_website", "Company website", "url", False),
    ("job_title", "Job title", "text", False),
    ("project_description", "What would you like to achieve?", "textarea", False),
)
"""(field, label, input type, required), in form order; names match LeadSubmission."""
TOKEN_FIELD = "form_token"
"""Hidden field with the page's one-time token; not part of LeadSubmission."""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; color: #1f2933; }}
 label {{ display: block; margin-top: 1rem; font-weight: 600; }}
 input, textarea {{ width: 100%; padding: .5rem; margin-top: .25rem; box-sizing: border-box; font: inherit; }}
 textarea {{ min-height: 6rem; }}
 .error {{ color: #b42318; margin: .25rem 0 0; }}
 .invalid {{ border: 2px solid #b42318; }}
 #errors {{ background: #fef3f2; border: 1px solid #b42318; padding: .75rem 1rem; margin-top: 1rem; }}
 button {{ margin-top: 1.5rem; padding: .6rem 1.4rem; font: inherit; }}
 .required {{ color: #b42318; }}
</style>
</head>
<body>
{content}
</body>
</html>
"""


def _field_html(name: str, label: str, kind: str, required: bool, value: str, error: str | None) -> str:
    marker = ' <span class="required" aria-hidden="true">*</span>' if required else ""
    invalid = ' class="invalid" aria-invalid="true"' if error else ""
    described = f' aria-describedby="error-{name}"' if error else ""
    if kind == "textarea":
        control = f'<textarea id="{name}" name="{name}"{invalid}{described}>{escape(value)}</textarea>'
    else:
        control = f'<input id="{name}" name="{name}" type="{kind}" value="{escape(value, quote=True)}"{invalid}{described}>'
    message = f'<p class="error" id="error-{name}">{escape(error)}</p>' if error else ""
    return f'<label for="{name}">{escape(label)}{marker}</label>\n{control}\n{message}'


def render_form(values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None, *,
                token: str | None = None) -> str:
    """The form, filled with `values`, with each error under its field and a summary on top; `token` is the
    page's one-time token (kept when the form is shown again with errors)."""
    values = values or {}
    errors = errors or {}
    summary = ""
    if errors:
        labels = {name: label for name, label, _kind, _required in FIELDS}
        items = "".join(f"<li>{escape(labels[field])}: {escape(problem)}</li>" if field in labels
                        else f"<li>{escape(problem)}</li>" for field, problem in errors.items())
        summary = f'<div id="errors" role="alert"><strong>Please correct the following:</strong><ul>{items}</ul></div>'
    hidden = (f'<input type="hidden" name="{TOKEN_FIELD}" value="{escape(token, quote=True)}">\n'
              if token else "")
    fields = "\n".join(_field_html(name, label, kind, required, values.get(name, ""), errors.get(name))
                       for name, label, kind, required in FIELDS)
    content = (
        "<h1>Talk to our team</h1>\n<p>Tell us about your company and we will get back to you.</p>\n"
        f'{summary}\n<form id="lead-form" method="post" action="/" novalidate>\n{hidden}{fields}\n'
        '<button type="submit" id="submit">Send</button>\n</form>'
    )
    return _PAGE.format(title="Talk to our team", content=content)


def render_thanks(lead_id: str) -> str:
    content = (
        '<h1 id="thanks">Thank you!</h1>\n<p>We received your request and will be in touch shortly.</p>\n'
        f'<p>Your reference: <code id="lead-id">{escape(lead_id)}</code></p>\n<p><a href="/">Send another</a></p>'
    )
    return _PAGE.format(title="Thank you", content=content)
