"""`/docs`: interactive API documentation (Swagger UI) over /api/openapi.json, served from here.

Swagger UI's files are vendored under templates/static/swagger-ui/ (version and
licence in its README): nothing is fetched from another site, and the page
runs under the same Content-Security-Policy as every other (scripts and
styles from this site only, no inline script), widened where Swagger UI needs
it: its stylesheet draws icons as `data:` SVG images, and it fetches the
schema and the calls one tries from this site. The start-up script is our
own file, templates/static/docs.js. "Authorize" takes a personal API token
(Bearer), so a script author can try calls with their own rights.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.render import render
from web.security import CSP

router = APIRouter(include_in_schema=False)
# Widened by two sources: its icons (data: SVG in its stylesheet), and fetching the
# schema and the calls a reader tries from this site (connect-src; default is none).
DOCS_CSP = CSP.replace("img-src 'self'", "img-src 'self' data:") + "; connect-src 'self'"


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The API's documentation, browsable and callable."""
    return render(request, "docs.html", headers={"Content-Security-Policy": DOCS_CSP})
