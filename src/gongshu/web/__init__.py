"""Web adapter: server-rendered pages (Jinja2), message catalogs, cookies. No rules here."""
