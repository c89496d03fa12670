const STOCK = { A1: 3 };

function reserve(sku) {
  if (!(sku in STOCK)) throw new TypeError(`no stock entry for ${sku}`);
  return STOCK[sku] - 1;
}

module.exports = { reserve };
