"""HTTP adapter: the FastAPI application, its middleware and error handlers. No rules here."""
