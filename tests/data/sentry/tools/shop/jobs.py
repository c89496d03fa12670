"""Background jobs that report what they did: messages sent with their stack."""
import logging

log = logging.getLogger("shop.jobs")


def warm_cache(keys, report):
    report(f"cache warmed for {keys} keys")


def rebuild_index(keys, report):
    report(f"cache warmed for {keys} keys")  # the same text as warm_cache, another place


def cleanup(what, why):
    log.error("cleanup of %s failed: %s", what, why)


def reprice(sku):
    raise LookupError(f"no price for {sku}")
