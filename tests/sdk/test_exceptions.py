import sys

from lookout_sdk._exceptions import MAX_FRAMES, exception_values, is_in_app


def _raise_chain() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        local_secret = "s3cr3t"  # noqa: F841 - captured as a local variable
        raise ValueError("bad order 42") from exc


def test_chain_oldest_first_with_frames_context_and_vars() -> None:
    try:
        _raise_chain()
    except ValueError as exc:
        values = exception_values(exc, "generic", handled=True)
    assert [v["type"] for v in values] == ["KeyError", "ValueError"]
    raised = values[-1]
    assert raised["value"] == "bad order 42" and raised["module"] == "builtins"
    assert raised["mechanism"] == {"type": "generic", "handled": True}
    last = raised["frames"][-1]  # crashing frame last
    assert last["function"] == "_raise_chain"
    assert last["module"] == __name__
    assert last["context_line"].strip() == 'raise ValueError("bad order 42") from exc'
    assert len(last["pre_context"]) == 5 and last["post_context"]
    assert last["in_app"] is True and last["abs_path"] == __file__
    assert last["filename"].endswith("test_exceptions.py")
    assert last["vars"]["local_secret"] == "s3cr3t"  # scrubbing happens on the sender
    assert values[0]["frames"][-1]["context_line"].strip() == '{}["missing"]'


def test_implicit_context_and_suppressed_context() -> None:
    try:
        try:
            raise OSError("first")
        except OSError:
            raise RuntimeError("second")
    except RuntimeError as exc:
        assert [v["type"] for v in exception_values(exc)] == ["OSError", "RuntimeError"]
    try:
        try:
            raise OSError("first")
        except OSError:
            raise RuntimeError("second") from None
    except RuntimeError as exc:
        assert [v["type"] for v in exception_values(exc)] == ["RuntimeError"]


def test_cycles_and_deep_recursion_are_bounded() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert len(exception_values(a)) == 2

    def recurse(n: int) -> None:
        if n == 0:
            raise RecursionError("deep")
        recurse(n - 1)

    try:
        recurse(500)
    except RecursionError as exc:
        frames = exception_values(exc)[0]["frames"]
    assert len(frames) == MAX_FRAMES
    assert frames[0]["function"] == "test_cycles_and_deep_recursion_are_bounded"


def test_library_frames_are_not_in_app() -> None:
    import json

    assert not is_in_app(json.__file__)
    assert not is_in_app("/venv/lib/python3.11/site-packages/pkg/mod.py")
    assert not is_in_app("<frozen importlib._bootstrap>")
    assert is_in_app(__file__)


def test_without_vars() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        values = exception_values(exc, with_vars=False)
    assert "vars" not in values[0]["frames"][0]
    assert sys.exc_info() == (None, None, None)
