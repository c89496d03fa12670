"""Alembic migrations (packaged so ``pip install .`` carries them)."""
