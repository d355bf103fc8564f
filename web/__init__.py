"""The web app (FastAPI + Jinja2): pages and, later, the JSON API."""
