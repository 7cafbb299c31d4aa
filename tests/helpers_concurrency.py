"""Two changes at the same moment, for the tests of locks and deadlocks on PostgreSQL: one runs in a thread with
a connection of its own and pauses where the test says (holding what it locked by then), the other runs here."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tourbook.extensions import db


def held_a_second_at(monkeypatch, module, name: str, thread: str, *, after: bool = False):  # noqa: ANN001, ANN201
    """The thread called ``thread`` pauses a second before it calls ``module.name`` (``after``: once the call
    returned), holding what it locked by then; the event returned is set when it does."""
    holding = threading.Event()
    real = getattr(module, name)

    def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        mine = threading.current_thread().name == thread
        if mine and not after:
            holding.set()
            clock.sleep(1.0)
        out = real(*args, **kwargs)
        if mine and after:
            holding.set()
            clock.sleep(1.0)
        return out

    monkeypatch.setattr(module, name, slow)
    return holding


@contextmanager
def in_another_connection(app: Flask, name: str, change: Callable[[Session], object], *,
                          request: bool = False, wait: float = 20.0) -> Iterator[dict[str, BaseException]]:
    """``change`` runs in a thread called ``name``, with a session and connection of its own (in an application
    context, or a request context when ``request``: mails' links need a host), while the block runs here. The
    dict yielded collects errors: the thread's under ``name``, the block may add its own; read it after the
    block, which waits for the thread."""
    errors: dict[str, BaseException] = {}
    engine = create_engine(db.engine.url)

    def run() -> None:
        try:
            with (app.test_request_context() if request else app.app_context()), Session(engine) as other:
                change(other)
        except BaseException as error:  # noqa: BLE001 - any error is what the test looks for
            errors[name] = error

    thread = threading.Thread(target=run, name=name)
    thread.start()
    try:
        yield errors
    finally:
        thread.join(wait)
        engine.dispose()
