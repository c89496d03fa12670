"""Lookout core: settings, database, shared tables, the app factory and the CLI."""

__version__ = "0.1.0"
