"""The few rules for answering htmx and plain requests from one URL (STYLE.md, HTMX)."""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, render_template, request
from werkzeug.wrappers import Response


def wants_fragment() -> bool:
    """An htmx request that swaps a part of the page (not a boosted navigation or a history restore)."""
    h = request.headers
    swap = h.get("HX-Request") == "true" and h.get("HX-Boosted") != "true"
    return swap and not h.get("HX-History-Restore-Request")


def render(page: str, fragment: str | None = None, status: int = 200, **context: Any) -> Response:
    """The full page, or for an htmx swap only the fragment."""
    template = fragment if fragment and wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str) -> Response:
    """After a successful POST: 303 for plain forms, HX-Redirect for htmx."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def as_whole_page(response: Response) -> Response:
    """An answer that replaces the whole page, also when htmx asked for a part of it (a form's swap): into
    <body>, whatever the element's own hx-select (which would pick nothing of a whole page), and with 200
    (htmx swaps no 4xx but 422)."""
    if request.headers.get("HX-Request") == "true":
        response.status_code = 200
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML"
        response.headers["HX-Reselect"] = "unset"
    return response
