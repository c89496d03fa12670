"""The Sentry protocol: envelopes and legacy store requests from an unmodified ``sentry-sdk``."""
