import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import lookout_sdk
from lookout_sdk._context import propagate_to_threads, valid_request_id


def test_request_id_validation() -> None:
    assert valid_request_id("abc-123_X.y") == "abc-123_X.y"
    assert valid_request_id(b"abc") == "abc"
    for bad in ("", "has space", "x" * 201, "é", "a\nb", b"\xff", None, 42):
        assert valid_request_id(bad) is None


def test_invalid_or_missing_id_is_replaced() -> None:
    with lookout_sdk.request_context("bad id\r\n") as ctx:
        assert len(ctx.request_id) == 32 and lookout_sdk.get_request_id() == ctx.request_id
    with lookout_sdk.request_context() as ctx:
        assert len(ctx.request_id) == 32
    assert lookout_sdk.get_request_id() is None


async def test_asyncio_tasks_inherit_and_are_isolated() -> None:
    async def job(rid: str) -> tuple[str, str | None]:
        with lookout_sdk.request_context(rid):
            await asyncio.sleep(0)
            inner = await asyncio.create_task(asyncio.sleep(0, lookout_sdk.get_request_id()))
            return rid, inner

    results = await asyncio.gather(*(job(f"r{i}") for i in range(20)))
    assert all(rid == inner for rid, inner in results)


def test_threads_started_inside_a_request_inherit_it() -> None:
    propagate_to_threads()
    seen: list[str | None] = []
    with lookout_sdk.request_context("req-thread"):
        t = threading.Thread(target=lambda: seen.append(lookout_sdk.get_request_id()))
        t.start()
        t.join()
        with ThreadPoolExecutor(2) as pool:
            seen.extend(pool.map(lambda _: lookout_sdk.get_request_id(), range(2)))
    t = threading.Thread(target=lambda: seen.append(lookout_sdk.get_request_id()))
    t.start()
    t.join()
    assert seen == ["req-thread", "req-thread", "req-thread", None]


def test_set_route_outside_a_request_is_harmless() -> None:
    lookout_sdk.set_route("/x/{id}")
    with lookout_sdk.request_context("r") as ctx:
        lookout_sdk.set_route("/orders/{id}")
        assert ctx.route == "/orders/{id}"


def test_pool_tasks_get_the_submitters_context_not_the_workers() -> None:
    propagate_to_threads()
    with ThreadPoolExecutor(1) as pool:
        with lookout_sdk.request_context("req-a"):
            assert pool.submit(lookout_sdk.get_request_id).result() == "req-a"
        # the worker thread was started inside req-a; later tasks must not inherit it
        assert pool.submit(lookout_sdk.get_request_id).result() is None
        with lookout_sdk.request_context("req-b"):
            assert list(pool.map(lambda _: lookout_sdk.get_request_id(), range(3))) == ["req-b"] * 3
