"""Ingest: receives records from the SDK and Sentry clients and stores them.

Other modules read collector data through :mod:`collector.queries`, never by
querying its tables directly.
"""
