"""The English catalogue: one module per part of the page, each with a `TEXT` dict (see `locales/__init__.py`)."""
