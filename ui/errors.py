"""Turn any failure of a request into a sentence for the page, never a traceback.

Expected failures (a bad upload, an unknown id, a filter the index rejects) carry their own
reason; anything else is logged in full on the server and shown as one line, so a user can
report it without the page leaking server internals.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

from query import BadInput, optional
from query.http_guard import strip_paths

log = logging.getLogger("ui")

EXPECTED = (BadInput, ValueError, LookupError, FileNotFoundError)


class UserError(ValueError):
    """A request the page itself refuses (missing input, upload too large, ...)."""


def _short_path(path: str) -> str:
    # Uploads live under a random temp folder; the user knows the file by its name only.
    return Path(path).name if "/" in path or "\\" in path else path


def shorten(text: str, paths) -> str:
    """`text` with each of `paths` (server folders a user need not see) cut to its last part."""
    for path in paths:
        if path:
            text = text.replace(str(path), Path(path).name)
    return text


def message(exc: BaseException, upload: str | None = None, hide=(), api_name: str = "page") -> str:
    """A one-paragraph Markdown message for the page; `hide`: server paths to shorten. A refusal
    is logged as one line (`api_name`: the endpoint that refused), anything else with its traceback."""
    if isinstance(exc, BadInput):
        reason = shorten(exc.reason.replace("(--rate)", "(fill in the sample rate field)"), hide)
        text = f"**Could not use `{_short_path(exc.path)}`:** {reason}"
    elif isinstance(exc, EXPECTED):
        text = f"**Could not do that:** {shorten(str(exc).strip() or type(exc).__name__, [upload, *hide])}"
    else:
        log.exception("unexpected error in a UI request")
        return f"**Something went wrong** ({type(exc).__name__}); the server log has the details."
    text = strip_paths(text)  # any server path the reason still names (an index, a source file)
    log.warning("refused %s: %s", api_name, text.replace("**", "").splitlines()[0] if text else "")
    return text


def safely(n_outputs: int, status_index: int = 0, on_error: list | None = None, hide=()):
    """Wrap a Gradio handler so that an exception becomes a message in the status output; the
    other outputs get `on_error` (the values for the outputs other than the status, in order),
    or are left as they were (`gr.skip()`). `hide`: server paths to shorten in messages."""
    gr = optional("gradio", "ui", "the web page")

    def wrap(fn):
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001  # the page must show a sentence, whatever went wrong
                uploads = [a for a in args if isinstance(a, str) and Path(a).is_absolute()]
                rest = list(on_error) if on_error is not None else [gr.skip()] * (n_outputs - 1)
                text = message(exc, uploads[0] if uploads else None, hide)
                out = rest[:status_index] + [text] + rest[status_index:]
                return tuple(out) if n_outputs > 1 else out[0]
        return handler
    return wrap
