"""The forms of a dashboard page, read from its HTML as a browser would submit them.

For tests that post to every form without a browser: each form's method, action
and the fields a browser sends when nothing is changed (inputs with their values,
checked boxes, selected options, textareas), with the other values each field
offers (options, unchecked boxes, the values of its submit buttons). What sits in a
``<template>`` is left out, as browsers leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit


@dataclass
class Form:
    method: str
    #: The action's path and query (``?env=...``), resolved against the page.
    action: str
    #: What submitting it unchanged sends, in order (names repeat).
    fields: list[tuple[str, str]] = field(default_factory=list)
    #: Other values each field offers: options, boxes, submit buttons.
    choices: dict[str, set[str]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.action).path

    @property
    def query(self) -> str:
        return urlsplit(self.action).query

    def offer(self, name: str, value: str) -> None:
        self.choices.setdefault(name, set()).add(value)


class _Reader(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.in_template = 0
        self.select: tuple[str, bool] | None = None  # name, multiple
        self.options: list[tuple[str, bool]] = []
        self.textarea: tuple[str, list[str]] | None = None
        self.option_text: list[str] | None = None
        self.option_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        if tag == "form":
            action = urljoin(self.page_url, a.get("action") or self.page_url)
            parts = urlsplit(action)
            self.form = Form(
                (a.get("method") or "get").upper(),
                parts.path + (f"?{parts.query}" if parts.query else ""),
            )
            self.forms.append(self.form)
            return
        if tag == "option" and self.select is not None:
            self.option_value = a.get("value")
            self.option_text = []
            self.options.append((a.get("value", ""), "selected" in a))
            return
        form, name = self.form, a.get("name", "")
        if form is None or not name or "disabled" in a:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            value = a.get("value", "on" if kind in ("checkbox", "radio") else "")
            if kind in ("checkbox", "radio"):
                form.offer(name, value)
                if "checked" in a:
                    form.fields.append((name, value))
            elif kind in ("submit", "image", "button", "reset"):
                form.offer(name, value)
            else:
                form.fields.append((name, value))
        elif tag == "button":
            form.offer(name, a.get("value", ""))
        elif tag == "textarea":
            self.textarea = (name, [])
        elif tag == "select":
            self.select, self.options = (name, "multiple" in a), []

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[1].append(data)
        if self.option_text is not None:
            self.option_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "template" and self.in_template:
            self.in_template -= 1
            return
        if self.in_template or self.form is None:
            return
        if tag == "form":
            self.form = None
        elif tag == "textarea" and self.textarea is not None:
            name, text = self.textarea
            self.form.fields.append((name, "".join(text).removeprefix("\n")))
            self.textarea = None
        elif tag == "option" and self.option_text is not None:
            if self.option_value is None:  # an option without a value sends its text
                selected = self.options[-1][1]
                self.options[-1] = ("".join(self.option_text).strip(), selected)
            self.option_text = None
        elif tag == "select" and self.select is not None:
            self._close_select(self.form)

    def _close_select(self, form: Form) -> None:
        assert self.select is not None
        name, multiple = self.select
        for value, _ in self.options:
            form.offer(name, value)
        chosen = [value for value, selected in self.options if selected]
        if not chosen and not multiple and self.options:
            chosen = [self.options[0][0]]
        form.fields.extend((name, value) for value in chosen)
        self.select = None


def forms_of(html: str, page_url: str) -> list[Form]:
    """The forms of the page at ``page_url`` (a path, or a full URL)."""
    reader = _Reader(page_url)
    reader.feed(html)
    reader.close()
    return reader.forms
