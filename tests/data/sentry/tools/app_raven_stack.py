"""The real ``raven`` sending messages with their stack (``stack=True``: a top-level
stacktrace); run by capture.py."""

import sys

from raven import Client
from raven.transport.http import HTTPTransport
from shop import jobs

dsn, where = sys.argv[1], sys.argv[2]
client = Client(dsn=dsn, release="shop@0.9.0", environment="test", name="web-1",
                include_paths=["shop"] if where == "app" else [], install_sys_hook=False,
                transport=HTTPTransport)


def sender(case):
    return lambda text: client.captureMessage(text, stack=True,
                                              tags={"case": f"{where}-{case}"})


# The same call site each time: one issue; the same text sent from elsewhere: another.
for case, keys in (("stack-message", 120), ("stack-message-again", 7)):
    jobs.warm_cache(keys, sender(case))
jobs.rebuild_index(120, sender("stack-message-elsewhere"))
