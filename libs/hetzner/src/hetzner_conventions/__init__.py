"""Hetzner Cloud API v1 conventions, for every part of the platform that speaks or serves that API
(docs/ARCHITECTURE.md, "The Hetzner conventions"): the gateway's public API, compute's label
filters in SQL, the Hetzner Cloud simulator.

- :mod:`.errors`: the error object and the status of each code; :mod:`.error_handlers`: a
  FastAPI app answering every error that way, with :mod:`.not_implemented` (and the list of
  Hetzner's :mod:`.operations`) for the operations it does not serve;
- :mod:`.pagination`: ``page``/``per_page``, ``meta.pagination`` and the ``Link`` header;
- :mod:`.sorting`: the ``sort`` parameter;
- :mod:`.label_selector`: the ``label_selector`` grammar and its in-memory matcher;
  :mod:`.label_sql`: the same requirements as a SQL condition over a JSON column.

It imports no service (import-linter holds that); plain-Python modules (errors, grammar,
sorting) need no web framework, so a service that only filters labels in SQL imports
:mod:`.label_sql` alone.

The OpenAPI description in ``tests/reference/hcloud-openapi.json`` gives the shapes (error object,
``meta.pagination``, the ``page``/``per_page``/``label_selector``/``sort`` parameters); its
narrative sections (Pagination, Label Selector, Sorting, Errors) are not part of it, so the
rules below follow Hetzner's published API documentation, and each module says where it
chose.
"""
