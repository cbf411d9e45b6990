"""Hetzner Cloud API v1 conventions the public API follows (docs/ARCHITECTURE.md, "How a change travels").

The OpenAPI description in ``tests/reference/hcloud-openapi.json`` gives the shapes (error object,
``meta.pagination``, the ``page``/``per_page``/``label_selector``/``sort`` parameters); its
narrative sections (Pagination, Label Selector, Sorting, Errors) are not part of it, so the
rules below follow Hetzner's published API documentation, and each module says where it
chose.
"""
