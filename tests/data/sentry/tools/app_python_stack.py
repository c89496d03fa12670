"""Real sentry-sdk (1.x or 2.x) with attach_stacktrace: messages carry their stack in
``threads``; one error is sent under a transaction name. Run by capture.py."""
# ruff: noqa: B023 - app code as people write it, run once per case

import sys

import sentry_sdk
from shop import jobs

dsn, where = sys.argv[1], sys.argv[2]
sentry_sdk.init(dsn=dsn, release="shop@1.0.0", environment="test", server_name="web-1",
                attach_stacktrace=True)


def report(case, action):
    with sentry_sdk.new_scope() if hasattr(sentry_sdk, "new_scope") else sentry_sdk.push_scope() as scope:
        scope.set_tag("case", f"{where}-{case}")
        action(scope)


# The same call site each time: one issue; the same text sent from elsewhere: another.
for case, keys in (("stack-message", 120), ("stack-message-again", 7)):
    report(case, lambda scope: jobs.warm_cache(keys, sentry_sdk.capture_message))
report("stack-message-elsewhere", lambda scope: jobs.rebuild_index(120, sentry_sdk.capture_message))
report("stack-log", lambda scope: jobs.cleanup("cache", "disk full"))


def in_transaction(scope):
    scope.set_transaction_name("shop.views.reprice")
    try:
        jobs.reprice("B2")
    except LookupError:
        sentry_sdk.capture_exception()


report("transaction-reprice", in_transaction)
sentry_sdk.flush(timeout=10)
