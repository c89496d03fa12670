STOCK = {"A1": 3}


def reserve(sku):
    return STOCK[sku] - 1
