"""Run small apps instrumented with the real ``sentry-sdk`` in subprocesses.

A subprocess per app keeps sentry-sdk's global hooks (excepthook, logging)
out of the test runner, and lets a test hide ``brotli`` from the app (a
``sitecustomize`` that makes ``import brotli`` fail) so the SDK falls back to
gzip, exactly as on a machine without brotli, or set the app's clock wrong
(``clock_offset``: ``time.time`` and ``datetime.now`` shifted, as on a device
whose clock is off; the SDK stamps events and ``sent_at`` with it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_BLOCK_BROTLI = """
import sys

class _NoBrotli:
    def find_spec(self, name, path=None, target=None):
        if name == "brotli" or name.startswith("brotli."):
            raise ImportError("brotli hidden by the test")
        return None

sys.meta_path.insert(0, _NoBrotli())
"""

_SHIFT_CLOCK = """
import datetime as _datetime, time as _time

_OFFSET = {offset!r}
_real_time = _time.time
_time.time = lambda: _real_time() + _OFFSET


class _ShiftedDatetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + _datetime.timedelta(seconds=_OFFSET)

    @classmethod
    def utcnow(cls):
        return super().utcnow() + _datetime.timedelta(seconds=_OFFSET)


_datetime.datetime = _ShiftedDatetime
"""

PRELUDE = """
import logging, sys
import sentry_sdk
import sentry_sdk.transport
sentry_sdk.init(dsn=DSN, release="1.0.0", environment="test", enable_logs=True,
                default_integrations=True, **OPTIONS)
sentry_sdk.set_tag("service", "shop")
print("compression:", "br" if sentry_sdk.transport.brotli is not None else "gzip", flush=True)
"""


def run_app(workdir: Path, dsn: str, code: str, *, brotli: bool = True,
            check: bool = True, options: dict[str, object] | None = None,
            clock_offset: float = 0.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after ``sentry_sdk.init(dsn=..., **options)`` in a fresh interpreter.

    ``clock_offset``: seconds the app's clock is ahead (negative: behind).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOKOUT_", "SENTRY_"))}
    custom = ("" if brotli else _BLOCK_BROTLI) + (
        _SHIFT_CLOCK.format(offset=float(clock_offset)) if clock_offset else "")
    if custom:
        site = workdir / "sitecustomize"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(custom)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    script = workdir / "app.py"
    script.write_text(f"DSN = {dsn!r}\nOPTIONS = {options or {}!r}\n" + PRELUDE
                      + textwrap.dedent(code))
    result = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    expected = "compression: br" if brotli else "compression: gzip"
    assert expected in result.stdout, result.stdout + result.stderr
    return result
