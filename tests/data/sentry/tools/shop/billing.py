PRICES = {"A1": 9.5}


def charge(sku):
    return PRICES[sku] * 100
