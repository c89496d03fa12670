"""The service a Sentry SDK's events name, remembered for the logs and metrics it sends.

Lookout files Sentry events under the ``service`` tag (``set_tag("service",
"checkout")``). sentry-sdk's ``log`` and ``trace_metric`` items carry no tags,
only ``server.address``, release and environment, so the logs of an app whose
errors say "checkout" showed "(no service)" beside them. An event teaches this
memory which service its (project, server name, release, environment) runs;
logs and metrics of the same four without a service of their own get it.

Per process and bounded (the least recently taught entries go first): an
instance that has not yet seen an event of an app stores its logs without a
service, as before. Nothing here changes what a client said explicitly.
"""

from __future__ import annotations

from collections import OrderedDict

Key = tuple[int, str, str, str]
MAX_ENTRIES = 10_000


class ServiceMemory:
    """(project, server name, release, environment) -> service, least recently used out."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._known: OrderedDict[Key, str] = OrderedDict()

    def learn(self, project_id: int, host: str, release: str, environment: str,
              service: str) -> None:
        if not service or not host:
            return
        key = (project_id, host, release, environment)
        self._known[key] = service
        self._known.move_to_end(key)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)

    def recall(self, project_id: int, host: str, release: str, environment: str) -> str:
        """The service last named by an event of these four, or ``""``."""
        if not host:
            return ""
        return self._known.get((project_id, host, release, environment), "")
