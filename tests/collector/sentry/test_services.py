"""The service remembered from Sentry events for the logs and metrics of the same app."""

from __future__ import annotations

from collector.sentry.services import ServiceMemory


def test_an_event_teaches_the_service_of_its_app():
    memory = ServiceMemory()
    assert memory.recall(1, "web-1", "2.0", "prod") == ""
    memory.learn(1, "web-1", "2.0", "prod", "checkout")
    assert memory.recall(1, "web-1", "2.0", "prod") == "checkout"
    # Another project, host, release or environment is another app (or version of it).
    for other in ((2, "web-1", "2.0", "prod"), (1, "web-2", "2.0", "prod"),
                  (1, "web-1", "2.1", "prod"), (1, "web-1", "2.0", "staging")):
        assert memory.recall(*other) == ""
    memory.learn(1, "web-1", "2.0", "prod", "")  # an event without a service changes nothing
    assert memory.recall(1, "web-1", "2.0", "prod") == "checkout"
    memory.learn(1, "", "2.0", "prod", "api")  # nor one without a server name
    assert memory.recall(1, "", "2.0", "prod") == ""


def test_memory_is_bounded_least_recently_taught_first():
    memory = ServiceMemory(max_entries=2)
    memory.learn(1, "a", "", "", "s-a")
    memory.learn(1, "b", "", "", "s-b")
    memory.learn(1, "a", "", "", "s-a")  # taught again: now the newest
    memory.learn(1, "c", "", "", "s-c")
    assert [memory.recall(1, h, "", "") for h in "abc"] == ["s-a", "", "s-c"]
