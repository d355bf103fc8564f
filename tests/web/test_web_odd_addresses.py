"""Every page and API route answers odd path values with a clear 4xx, never a 500.

Generated from the app's route table, so a route added later is covered too:
each path parameter gets values a person or a scanner might type (a huge
number, a negative one, words, a dot-dot, NUL) and query strings get odd values,
as an admin who may see everything, over the demo content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bridge import demo
from bridge.core import Core
from tests.support.routes import app_routes
from tests.support.sessions import sign_in
from web.app import create_app

ODD = [
    "99999999999999999999999",
    "3337591066531",
    "-3804752269901",
    "-1",
    "0",
    "x",
    "..",
    "%00",
    "1.5",
]
PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


@pytest.fixture
def admin_client(core: Core) -> Iterator[TestClient]:
    demo.seed(core)  # rows behind the ids, so handlers get past their first lookup
    with TestClient(
        create_app(core), base_url="http://127.0.0.1", raise_server_exceptions=False
    ) as client:
        sign_in(client, core, "admin@example.com", is_admin=True)
        yield client


def test_odd_path_values_never_cause_a_server_error(core: Core, admin_client: TestClient) -> None:
    routes = [p for m, p in app_routes(admin_client.app) if m == "GET" and PARAM.search(p)]
    assert routes, "no parameterised GET routes found"
    errors = []
    for path in routes:
        for value in ODD:
            url = PARAM.sub(value, path)
            response = admin_client.get(url, follow_redirects=False)
            if response.status_code >= 500:
                errors.append(f"{url} -> {response.status_code}")
    assert not errors, "server errors:\n" + "\n".join(errors)


QUERIES = [
    "?q=%00&person=x%00&next=%00",
    "?q=a&page=99999999999999999999999&offset=-5&limit=1e9&person=zz&before=2026-13-45",
    "?q=" + "%22(" * 300 + "&page=0&after=yesterday&filter=nonsense",
]


@pytest.mark.parametrize("query", QUERIES, ids=["nul", "numbers", "syntax"])
def test_odd_query_strings_never_cause_a_server_error(admin_client: TestClient, query: str) -> None:
    errors = []
    for method, path in app_routes(admin_client.app):
        if method != "GET":
            continue
        url = PARAM.sub("1", path) + query
        response = admin_client.get(url, follow_redirects=False)
        if response.status_code >= 500:
            errors.append(f"{url} -> {response.status_code}")
    assert not errors, "server errors:\n" + "\n".join(errors)
