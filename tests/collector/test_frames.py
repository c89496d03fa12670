"""Frame identity for grouping (version 2): URLs, paths, function names."""

from __future__ import annotations

import pytest

from collector.frames import component, location, normalize_function, normalize_path


@pytest.mark.parametrize(("name", "expected"), [
    ("https://shop.example/static/js/main.3f9a2b1c.js", "static/js/main"),
    ("https://www.shop.example/static/js/main.3f9a2b1c.js", "static/js/main"),
    ("https://shop.example/static/js/main.3f9a2b1c.js?v=2#line", "static/js/main"),
    ("https://cdn.shop.example/static/js/main.8e7d6c5b.js", "static/js/main"),
    ("https://shop.example/static/1.4.2/js/main.js", "static/js/main"),
    ("https://shop.example/v2/app.min.js", "app"),
    ("http://localhost:3000/assets/index-BxQ3c_9A.js", "assets/index"),
    ("https://x.example/js/vendor~main.abcdef12.chunk.js", "js/vendor~main.chunk"),
    ("https://cdn.example/npm/lodash@4.17.21/lodash.min.js", "npm/lodash/lodash"),
    ("webpack:///./src/components/Cart.tsx", "src/components/Cart"),
    ("app:///main.jsbundle", "main"),
    ("/home/ci/app/node_modules/express/lib/router/index.js", "express/lib/router/index"),
    ("/srv/releases/41/shop/billing.py", "shop/billing.py"),
    ("/usr/lib/python3.12/site-packages/requests/api.py", "requests/api.py"),
    ("C:\\apps\\shop\\billing.py", "shop/billing.py"),
])
def test_paths_and_urls_lose_what_changes_between_hosts_and_deploys(name, expected):
    assert normalize_path(name) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("?", "<anonymous>"), ("<anonymous>", "<anonymous>"), (None, "<anonymous>"),
    ("Object.?", "Object.<anonymous>"), ("HTMLButtonElement.<anonymous>",
                                         "HTMLButtonElement.<anonymous>"),
    ("lambda$process$0", "lambda$process$"), ("lambda$process$12", "lambda$process$"),
    ("OrderJob$$Lambda$123/0x0000000800c0b440.accept", "OrderJob$$Lambda$.accept"),
    ("<function f at 0x7f3a>", "<function f>"), ("checkout", "checkout"),
])
def test_function_names(name, expected):
    assert normalize_function(name) == expected


def test_frame_identity_leaves_out_line_numbers_and_addresses():
    a = {"module": "shop.orders", "function": "checkout", "lineno": 3, "context_line": "  x = 1"}
    b = {**a, "lineno": 30, "abs_path": "/elsewhere/shop/orders.py"}
    assert component(a) == component(b) == "shop.orders | checkout | x = 1"
    native = {"package": "/opt/build-17/libshop.so", "instruction_addr": "0x7f00"}
    assert location(native) == "libshop.so"
    assert component(native) is not None
    assert component({"instruction_addr": "0x7f00"}) is None  # nothing stable to hash
