"""The real ``sentry-cli`` (npm ``@sentry/cli``) sending events; run by capture.py.

``sentry-cli send-event`` is how shell scripts and cron jobs report to Sentry: a
``logentry`` with ``message`` and ``params`` (no ``formatted``), tags, a release, an
environment, an optional fingerprint and breadcrumbs from a log file; or an event read
from a JSON file. SENTRY_CLI names the binary (default: ``sentry-cli`` on PATH).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

dsn, where = sys.argv[1], sys.argv[2]
if where != "app":  # nothing here depends on the working directory
    sys.exit(0)
cli = os.environ.get("SENTRY_CLI", "sentry-cli")
env = {**os.environ, "SENTRY_DSN": dsn}


def send(case: str, *args: str) -> None:
    subprocess.run([cli, "send-event", "--no-environ", "-t", f"case:{case}", "-t", "plan:pro",
                    "-r", "backup@2.1.0", "-E", "production", *args], env=env, check=True,
                   timeout=60, capture_output=True)


# One template with other params: one issue, titled with the params filled in.
send("cli-cleanup", "-m", "cleanup of %s failed: %s", "-a", "/var/backups/a", "-a", "disk full")
send("cli-cleanup-again", "-m", "cleanup of %s failed: %s", "-a", "/var/tmp", "-a", "timeout")
# The same template with a fingerprint of its own: another issue.
send("cli-cleanup-fingerprint", "-m", "cleanup of %s failed: %s", "-a", "/srv", "-a", "EIO",
     "-f", "cleanup-io")
# A message with no params, at info level, with breadcrumbs read from a log file.
with tempfile.TemporaryDirectory() as tmp:
    logfile = Path(tmp) / "backup.log"
    logfile.write_text("starting backup\ncopying 120 files\nupload retried\n")
    send("cli-backup-done", "-m", "nightly backup finished", "-l", "info",
         "--logfile", str(logfile))
    # An event written by a script as JSON (send-event PATH sends the file as it is).
    event = Path(tmp) / "event.json"
    event.write_text(json.dumps({
        "message": "quota check failed for tenant 42", "level": "warning",
        "tags": {"case": "cli-event-file"}, "release": "backup@2.1.0",
        "environment": "production", "logger": "cron.quota"}))
    subprocess.run([cli, "send-event", str(event)], env=env, check=True, timeout=60,
                   capture_output=True)
