"""The application: settings, CLI, the ingestion pipeline, routing, and the serve process."""
