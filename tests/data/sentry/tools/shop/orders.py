# ruff: noqa: BLE001 - app code as people write it
def checkout(order_id):
    raise ValueError(f"order {order_id} is invalid")


def import_rows(rows):
    errors = []
    for number, row in enumerate(rows, 1):
        try:
            if not isinstance(row, dict):
                raise TypeError(f"row {number} is not an object")
            raise ValueError(f"row {number} has no sku")
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("import failed", errors)
