// The real @sentry/node reporting errors; run by capture.py (NODE_PATH points at it).
const Sentry = require('@sentry/node');
const inventory = require('./node_shop/inventory');
const billing = require('./node_shop/billing');
const payments = require('./node_shop/payments');

const [dsn, where] = process.argv.slice(2);
Sentry.init({ dsn, release: 'shop@1.0.0', environment: 'test', serverName: 'web-1' });

function report(name, action) {
  try {
    action();
  } catch (err) {
    Sentry.withScope((scope) => {
      scope.setTag('case', `${where}-${name}`);
      Sentry.captureException(err);
    });
  }
}

// The same call site each time: the same bug, whatever the values.
for (const [name, sku] of [['inventory-typeerror', 'B2'], ['inventory-typeerror-again', 'C3']]) {
  report(name, () => inventory.reserve(sku));
}
report('billing-typeerror', () => billing.charge('B2'));
for (const [name, cause] of [['pay-card', '4242'], ['pay-card-again', '1111'], ['pay-timeout', 'timeout']]) {
  report(name, () => payments.pay(cause));
}
Sentry.withScope((scope) => {
  scope.setTag('case', `${where}-message`);
  Sentry.captureMessage('cache warmed for 120 keys');
});
Sentry.flush(10000).then(() => process.exit(0));
