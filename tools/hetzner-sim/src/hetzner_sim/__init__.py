"""A stateful Hetzner Cloud API v1 simulator (compute, network and storage), for development and tests.

It answers under ``/v1`` what the spec in ``tests/reference/hcloud-openapi.json`` says the
real API answers, keeps state in memory (per project, one project per accepted token), moves
actions from ``running`` to ``success`` over time, and can be told to fail through control
endpoints under ``/_sim`` (see :mod:`hetzner_sim.faults`).
"""
