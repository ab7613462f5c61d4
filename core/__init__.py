"""Helpers below every app: validators that mirror the schema's CHECKs, Redis key names, the API's
parsers, pagination, error handling and OpenAPI error responses, and the console's base admin.
`apextrade/` sits on top (settings, URLs, Celery, demo data) and apps import from here."""
