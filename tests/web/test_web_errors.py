"""The web's boundary: every error of the tree gets its status, as a page and as /api JSON.

A route raising each class is added to a real app (create_app on the test's
core) and requested through the whole middleware stack; the statuses are
written out here, not read from web/errors.py, so a change to an answer shows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bridge.core import Core
from tests.support.errors import ROOTS, SECRET, instance, tree_classes
from web.app import create_app
from web.errors import ANSWERS, INTERNAL

# What people see: their own mistakes 4xx with the error's text or a fixed one;
# every class not named here is internal and answered 500.
EXPECTED: dict[str, tuple[int, str]] = {
    "UsageError": (400, "bad thing"),
    "PostRefused": (400, "bad thing"),
    "InvalidInput": (400, "bad thing"),
    "InvalidAddress": (400, "bad thing"),
    "Held": (409, "bad thing"),
    "DuplicateMessage": (409, "That message is already here."),
    "TokenError": (404, "This link is not valid."),
    "TokenMismatch": (404, "This link is not valid."),
    "TokenExpired": (410, "This link has expired."),
}
SERVER_ERROR = "Something went wrong on our side; it has been logged."


@pytest.fixture
def app(core: Core) -> FastAPI:
    return create_app(core)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("cls", tree_classes(), ids=lambda c: c.__name__)
def test_each_error_of_the_tree_gets_its_status(
    app: FastAPI, client: TestClient, cls: type[Exception]
) -> None:
    """Page and JSON agree; internals get 500 and never show the error's text."""

    def boom() -> None:
        raise instance(cls)

    app.add_api_route("/test-boom", boom)
    app.add_api_route("/api/test-boom", boom)
    status, text = EXPECTED.get(cls.__name__, (500, SERVER_ERROR))
    page = client.get("/test-boom")
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in page.headers
    assert text in page.text
    assert "Traceback" not in page.text
    api = client.get("/api/test-boom")
    assert api.status_code == status
    detail = api.json()["detail"]
    assert text in detail
    if status == 500 or text != "bad thing":
        assert SECRET not in page.text
        assert SECRET not in detail


def test_every_class_of_the_tree_has_a_decided_answer() -> None:
    """A new error class must be given an answer or declared internal, not fall to 500."""
    for cls in tree_classes():
        if cls in ROOTS:
            continue
        assert any(c in ANSWERS or c in INTERNAL for c in cls.__mro__), cls


def test_an_http_exception_keeps_its_status_and_message(app: FastAPI, client: TestClient) -> None:
    """Routes' own HTTPExceptions are answered by the same module: page, and JSON under /api."""
    page = client.get("/t/999999")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/api/threads/999999").json().keys() == {"detail"}
