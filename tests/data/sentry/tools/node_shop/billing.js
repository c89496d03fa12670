const PRICES = { A1: 9.5 };

function charge(sku) {
  if (!(sku in PRICES)) throw new TypeError(`no stock entry for ${sku}`);
  return PRICES[sku] * 100;
}

module.exports = { charge };
