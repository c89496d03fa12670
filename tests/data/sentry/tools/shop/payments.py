class PaymentError(Exception):
    pass


def call_gateway(cause):
    if cause == "timeout":
        raise TimeoutError("gateway did not answer in 30 s")
    raise ValueError(f"card {cause} rejected")


def pay(cause):
    try:
        call_gateway(cause)
    except Exception as exc:
        raise PaymentError("payment failed") from exc
