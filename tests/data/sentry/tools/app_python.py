"""Real sentry-sdk (1.x or 2.x) reporting real errors; run by capture.py."""
# ruff: noqa: B023, BLE001, UP036 - app code as people write it, run once per case

import logging
import sys

import sentry_sdk
from shop import billing, inventory, orders, payments

dsn, where = sys.argv[1], sys.argv[2]
sentry_sdk.init(dsn=dsn, release="shop@1.0.0", environment="test", server_name="web-1")


def report(case, action):
    with sentry_sdk.new_scope() if hasattr(sentry_sdk, "new_scope") else sentry_sdk.push_scope() as scope:
        scope.set_tag("case", f"{where}-{case}")
        try:
            action()
        except BaseException:  # ExceptionGroup too
            sentry_sdk.capture_exception()


report("inventory-keyerror", lambda: inventory.reserve("B2"))
report("billing-keyerror", lambda: billing.charge("B2"))
# The same call site each time: the same bug, whatever the values.
for case, order in (("checkout-17", 17), ("checkout-42", 42)):
    report(case, lambda: orders.checkout(order))
for case, cause in (("pay-card", "4242"), ("pay-card-again", "1111"), ("pay-timeout", "timeout")):
    report(case, lambda: payments.pay(cause))
if sys.version_info >= (3, 11):
    for case, rows in (("exception-group", [{}, 1]), ("exception-group-again", [{}, 2, 3])):
        report(case, lambda: orders.import_rows(rows))
with sentry_sdk.new_scope() if hasattr(sentry_sdk, "new_scope") else sentry_sdk.push_scope() as scope:
    scope.set_tag("case", f"{where}-log-template")
    logging.getLogger("shop.jobs").error("cleanup of %s failed: %s", "cache", "disk full")
sentry_sdk.flush(timeout=10)
