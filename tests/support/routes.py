"""Every route the web app serves, through included routers and mounts, for tests
that walk them all (the permission matrix, odd addresses in path parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import Mount


def app_routes(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers and mounts."""

    def walk(routes: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI's included router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                yield ("GET", prefix + route.path)
            else:
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        yield (method, prefix + route.path)

    return walk(app.routes)
