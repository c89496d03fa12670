"""Make a running process's database writes fail, then lift the condition, without a restart.

Two ways, both undone in place:

- :class:`FileSizeLimit` lowers the process's ``RLIMIT_FSIZE`` (as ``prlimit
  --fsize`` does), so growing any file past the limit fails with ``EFBIG``
  (Python ignores ``SIGXFSZ``). Works for any user on the process's own child.
- :class:`SmallDisk` mounts a small tmpfs for the database directory and fills
  it with a ballast file: a real "no space left on device". Needs root and a
  system that allows ``mount``; :func:`SmallDisk.available` says whether it can.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path


class FileSizeLimit:
    def __init__(self, pid: int, limit_bytes: int) -> None:
        self.pid = pid
        self.limit = limit_bytes
        self._hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]

    def apply(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (self.limit, self._hard))

    def lift(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (self._hard, self._hard))


class SmallDisk:
    def __init__(self, path: Path, size_mb: int = 32) -> None:
        self.path = path
        self.size_mb = size_mb
        self.ballast = path / "ballast"

    @staticmethod
    def available(probe: Path) -> bool:
        if os.geteuid() != 0:
            return False
        probe.mkdir(parents=True, exist_ok=True)
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs",
                        str(self.path)], check=True, capture_output=True)

    def fill(self) -> None:
        """Take every free byte (tmpfs allocates on write, so write zeros until ENOSPC)."""
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096):  # megabytes, then the last pages
                try:
                    while os.write(fd, b"\0" * size):
                        pass
                except OSError:
                    continue
        finally:
            os.close(fd)

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
