"""The real ``raven`` (the old Python client) reporting errors; run by capture.py."""
# ruff: noqa: B023, BLE001 - app code as people write it, run once per case

import sys

from raven import Client
from raven.transport.http import HTTPTransport
from shop import billing, inventory, orders, payments

dsn, where = sys.argv[1], sys.argv[2]
# raven 6 puts the key in X-Sentry-Auth and the project in the path, like the DSN says.
client = Client(dsn=dsn, release="shop@0.9.0", environment="test", name="web-1",
                include_paths=["shop"] if where == "app" else [], install_sys_hook=False,
                transport=HTTPTransport)


def report(case, action):
    try:
        action()
    except Exception:
        client.captureException(tags={"case": f"{where}-{case}"})


report("inventory-keyerror", lambda: inventory.reserve("B2"))
report("billing-keyerror", lambda: billing.charge("B2"))
# The same call site each time: the same bug, whatever the values.
for case, order in (("checkout-17", 17), ("checkout-42", 42)):
    report(case, lambda: orders.checkout(order))
for case, cause in (("pay-card", "4242"), ("pay-card-again", "1111"), ("pay-timeout", "timeout")):
    report(case, lambda: payments.pay(cause))
client.captureMessage("cleanup of %s failed: %s", params=("cache", "disk full"),
                      tags={"case": f"{where}-log-template"})
