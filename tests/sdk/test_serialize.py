import json
import math

from lookout_sdk._serialize import MAX_ITEMS, MAX_STRING, normalize, safe_repr, safe_str


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str either")


def test_broken_repr_and_str_never_raise() -> None:
    assert safe_repr(BadRepr()) == "<unrepresentable BadRepr>"
    assert safe_str(BadRepr()) == "<unrepresentable BadRepr>"
    assert normalize(BadRepr()) == "<unrepresentable BadRepr>"


def test_self_referencing_and_huge_containers_are_bounded() -> None:
    loop: list = [1]
    loop.append(loop)
    big = {f"k{i}": "x" * 10_000 for i in range(1000)}
    out = normalize({"loop": loop, "big": big, "nan": math.nan, "huge": 2**70, "b": b"\x00" * 5000})
    text = json.dumps(out, allow_nan=False)  # JSON-safe
    assert len(out["big"]) == MAX_ITEMS + 1
    assert all(len(v) <= MAX_STRING + 1 for k, v in out["big"].items() if k != "…")
    assert out["nan"] == "nan" and out["huge"] == str(2**70)
    assert len(text) < 200_000


def test_primitives_pass_through() -> None:
    assert normalize({"a": 1, "b": 2.5, "c": None, "d": True, "e": "s"}) == {
        "a": 1,
        "b": 2.5,
        "c": None,
        "d": True,
        "e": "s",
    }
