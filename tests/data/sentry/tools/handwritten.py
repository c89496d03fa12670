"""Write the hand-made payloads of tests/data/sentry/handwritten (not run by the tests).

Built from Sentry's protocol documentation (event payloads, the exception,
stack trace, mechanism and thread interfaces, envelope attachments) for
platforms whose real SDKs cannot run here: Java, Cocoa, native crashes
(symbolicated, with the stack in the crashed thread, and minidump-only),
browser bundles, Elixir (a top-level ``stacktrace`` and the ``culprit`` the
SDK computes), empty events, and a transaction sent as an event.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

OUT = Path(__file__).parent.parent / "handwritten"
NOW = "2026-12-01T12:00:00Z"


def _event(platform: str, exception: list[dict] | None = None, **extra) -> dict:
    event = {"event_id": uuid.uuid5(uuid.NAMESPACE_URL, json.dumps([platform, exception, extra],
                                                                   sort_keys=True)).hex,
             "timestamp": NOW, "platform": platform, "level": "error",
             "release": "shop@3.1.0", "environment": "production"}
    if exception is not None:
        event["exception"] = {"values": exception}
    event.update(extra)
    return event


def _envelope(event: dict, attachments: list[tuple[str, str, bytes]] = ()) -> bytes:
    payload = json.dumps(event).encode()
    out = [json.dumps({"event_id": event["event_id"], "sent_at": NOW}).encode(),
           json.dumps({"type": "event", "length": len(payload)}).encode(), payload]
    for name, kind, data in attachments:
        out += [json.dumps({"type": "attachment", "length": len(data), "filename": name,
                            "attachment_type": kind}).encode(), data]
    return b"\n".join(out) + b"\n"


def java(method: str, line: int, value: str = "/ by zero") -> bytes:
    frames = [
        {"module": "java.lang.Thread", "function": "run", "filename": "Thread.java",
         "lineno": 833, "in_app": False},
        {"module": "org.springframework.web.servlet.FrameworkServlet", "function": "service",
         "filename": "FrameworkServlet.java", "lineno": 897, "in_app": False},
        {"module": "com.shop.billing.InvoiceController", "function": "create",
         "filename": "InvoiceController.java", "lineno": 41, "in_app": False},
        {"module": "com.shop.billing.InvoiceService", "function": method,
         "filename": "InvoiceService.java", "lineno": line, "in_app": False},
    ]
    return _envelope(_event("java", [{"type": "ArithmeticException", "value": value,
                                      "module": "java.lang",
                                      "stacktrace": {"frames": frames}}]))


def java_lambda(index: int) -> bytes:
    frames = [
        {"module": "java.util.ArrayList", "function": "forEach", "filename": "ArrayList.java",
         "lineno": 1596},
        {"module": "com.shop.orders.OrderJob$$Lambda$" + str(100 + index) + "/0x0000000800c0b440",
         "function": "accept", "lineno": -1},
        {"module": "com.shop.orders.OrderJob", "function": f"lambda$process${index}",
         "filename": "OrderJob.java", "lineno": 27 + index},
    ]
    return _envelope(_event("java", [{"type": "NullPointerException",
                                      "value": f"Cannot invoke \"Order.id()\" ({index})",
                                      "stacktrace": {"frames": frames}}]))


def cocoa(function: str, container: str, address: int) -> bytes:
    app = f"/private/var/containers/Bundle/Application/{container}/Shop.app/Shop"
    frames = [
        {"function": "start", "package": "/usr/lib/dyld", "instruction_addr": "0x1a2b3c",
         "in_app": False},
        {"function": "UIApplicationMain", "package": "/System/Library/UIKitCore",
         "instruction_addr": "0x1b0c0d", "in_app": False},
        {"function": function, "package": app, "instruction_addr": hex(address),
         "in_app": False},
        {"function": "objc_msgSend", "package": "/usr/lib/libobjc.A.dylib",
         "instruction_addr": hex(address + 64), "in_app": False},
    ]
    return _envelope(_event("cocoa", [{"type": "EXC_BAD_ACCESS", "value": "SIGSEGV",
                                       "mechanism": {"type": "mach", "handled": False,
                                                     "meta": {"signal": {"number": 11}}},
                                       "stacktrace": {"frames": frames}}], level="fatal"))


def native(functions: list[str], build: str) -> bytes:
    frames = [{"function": f, "package": f"/opt/shop/{build}/libshop.so",
               "instruction_addr": hex(0x7f00 + i * 16), "in_app": False}
              for i, f in enumerate(["_start", "__libc_start_main", "main", *functions])]
    return _envelope(_event("native", [{"type": "SIGSEGV", "value": "Segfault",
                                        "mechanism": {"type": "signalhandler",
                                                      "handled": False},
                                        "stacktrace": {"frames": frames}}], level="fatal"))


def minidump(release: str, seed: int) -> bytes:
    event = _event("native", None, level="fatal", release=release,
                   contexts={"os": {"name": "Linux"}}, extra={"seed": seed})
    return _envelope(event, [("minidump.dmp", "event.minidump",
                              b"MDMP\x93\xa7" + bytes(range(seed, seed + 40)))])


def browser(url: str, function: str = "Cart.checkout") -> bytes:
    frames = [
        {"filename": url.replace("main", "vendor"), "abs_path": url.replace("main", "vendor"),
         "function": "HTMLButtonElement.<anonymous>", "lineno": 1, "colno": 88123,
         "in_app": False},
        {"filename": url, "abs_path": url, "function": function, "lineno": 1, "colno": 4211,
         "in_app": True},
        {"filename": url, "abs_path": url, "function": "?", "lineno": 1, "colno": 5002,
         "in_app": True},
    ]
    return _envelope(_event("javascript", [{"type": "TypeError",
                                            "value": "Cannot read properties of undefined "
                                                     "(reading 'total')",
                                            "stacktrace": {"frames": frames}}],
                            request={"url": "https://shop.example/cart"}))


def native_thread(functions: list[str], build: str) -> bytes:
    """A crash whose exception has no frames: the crashed thread carries the stack."""
    frames = [{"function": f, "package": f"/opt/shop/{build}/libshop.so",
               "instruction_addr": hex(0x7f00 + i * 16), "in_app": False}
              for i, f in enumerate(["_start", "__libc_start_main", "main", *functions])]
    threads = [{"id": 1, "name": "main", "crashed": False, "current": False,
                "stacktrace": {"frames": frames[:3]}},
               {"id": 7, "name": "worker", "crashed": True, "current": True,
                "stacktrace": {"frames": frames}}]
    return _envelope(_event("native", [{"type": "SIGSEGV", "value": "Segfault",
                                        "thread_id": 7,
                                        "mechanism": {"type": "signalhandler",
                                                      "handled": False}}],
                            level="fatal", threads={"values": threads}))


def _elixir_frames(function: str, line: int, code: str) -> list[dict]:
    """sentry-elixir's frames: Erlang/OTP outermost, the app's module last."""
    module = function.rsplit(".", 1)[0]
    return [
        {"module": "proc_lib", "function": "proc_lib.init_p_do_apply/3",
         "filename": "proc_lib.erl", "lineno": 241, "in_app": False},
        {"module": "Oban.Queue.Executor", "function": "Oban.Queue.Executor.perform/1",
         "filename": "lib/oban/queue/executor.ex", "lineno": 129, "in_app": False},
        {"module": module, "function": function,
         "filename": "lib/" + module.replace(".", "/").lower() + ".ex", "lineno": line,
         "context_line": code, "in_app": True},
    ]


def elixir_message(function: str, line: int, order: int) -> bytes:
    """``Sentry.capture_message(msg, stacktrace: ...)``: the stack at the top level."""
    frames = _elixir_frames(function, line, 'Sentry.capture_message("payment job stalled '
                                            'for order #{id}", stacktrace: trace)')
    return _envelope(_event("elixir", None, message=f"payment job stalled for order {order}",
                            culprit=function, stacktrace={"frames": frames},
                            sdk={"name": "sentry-elixir", "version": "8.1.0"}))


def elixir_error(function: str, line: int) -> bytes:
    """An exception sent by an older sentry-elixir: its stack at the top level too."""
    frames = _elixir_frames(function, line, "total = amount / count")
    return _envelope(_event("elixir", [{"type": "ArithmeticError",
                                        "value": "bad argument in arithmetic expression",
                                        "module": "erlang"}],
                            culprit=function, stacktrace={"frames": frames},
                            sdk={"name": "sentry-elixir", "version": "8.1.0"}))


def empty(platform: str, seed: int) -> bytes:
    return _envelope(_event(platform, None, extra={"seed": seed}))


def transaction_as_event() -> bytes:
    """A transaction in an ``event`` item (some SDKs and proxies send it so): no issue."""
    trace = {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
             "op": "http.server", "status": "internal_error"}
    return _envelope(_event("python", None, type="transaction", transaction="GET /cart",
                            start_timestamp="2026-12-01T11:59:59.750Z",
                            contexts={"trace": trace}, spans=[]))


FILES = {
    "java-divide-computetax.envelope": java("computeTax", 88),
    "java-divide-computetax-moved.envelope": java("computeTax", 93),  # a later release
    "java-divide-applydiscount.envelope": java("applyDiscount", 120),
    "java-lambda-0.envelope": java_lambda(0),
    "java-lambda-1.envelope": java_lambda(1),
    "cocoa-segv-reload.envelope": cocoa("-[CartViewController reload]",
                                        "0E5A1F7C-1111-4A8B-9C2D-3E4F5A6B7C8D", 0x100042000),
    "cocoa-segv-reload-other-install.envelope": cocoa(
        "-[CartViewController reload]", "7B2C9D1E-2222-4F3A-8B6C-5D7E9F1A2B3C", 0x100099000),
    "cocoa-segv-checkout.envelope": cocoa("-[CheckoutViewController pay:]",
                                          "0E5A1F7C-1111-4A8B-9C2D-3E4F5A6B7C8D", 0x100051000),
    "native-segv-render.envelope": native(["render_frame", "blit"], "build-17"),
    "native-segv-render-again.envelope": native(["render_frame", "blit"], "build-18"),
    "native-segv-parse.envelope": native(["parse_config", "strlen"], "build-17"),
    "native-segv-network.envelope": native(["net_poll", "recv_into"], "build-17"),
    "minidump-3.1.0-a.envelope": minidump("shop@3.1.0", 1),
    "minidump-3.1.0-b.envelope": minidump("shop@3.1.0", 2),
    "minidump-3.2.0.envelope": minidump("shop@3.2.0", 3),
    "browser-shop.envelope": browser("https://shop.example/static/js/main.3f9a2b1c.js"),
    "browser-www-shop.envelope": browser("https://www.shop.example/static/js/main.3f9a2b1c.js"),
    "browser-query.envelope": browser("https://shop.example/static/js/main.3f9a2b1c.js?v=2#l"),
    "browser-new-deploy.envelope": browser("https://cdn.shop.example/static/js/main.8e7d6c5b.js"),
    "browser-other-function.envelope": browser(
        "https://shop.example/static/js/main.3f9a2b1c.js", "Cart.applyCoupon"),
    "native-thread-segv-render.envelope": native_thread(["render_frame", "blit"], "build-17"),
    "native-thread-segv-render-again.envelope": native_thread(["render_frame", "blit"],
                                                              "build-18"),
    "native-thread-segv-parse.envelope": native_thread(["parse_config", "strlen"], "build-17"),
    "elixir-message-stalled-17.envelope": elixir_message("Shop.PaymentWorker.perform/1", 31, 17),
    "elixir-message-stalled-42.envelope": elixir_message("Shop.PaymentWorker.perform/1", 31, 42),
    "elixir-message-stalled-refund.envelope": elixir_message("Shop.RefundWorker.perform/1", 18,
                                                             17),
    "elixir-error-average.envelope": elixir_error("Shop.Reports.average/1", 12),
    "elixir-error-average-again.envelope": elixir_error("Shop.Reports.average/1", 14),
    "elixir-error-ratio.envelope": elixir_error("Shop.Reports.ratio/2", 40),
    "empty-python-a.envelope": empty("python", 1),
    "empty-python-b.envelope": empty("python", 2),
    "empty-javascript.envelope": empty("javascript", 3),
    "transaction-as-event.envelope": transaction_as_event(),
}

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, body in FILES.items():
        (OUT / name).write_bytes(body)
