"""OpenTelemetry OTLP/HTTP ingest: ``/v1/logs``, ``/v1/traces``, ``/v1/metrics`` (docs/otlp.md)."""
