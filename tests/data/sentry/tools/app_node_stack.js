// The real @sentry/node with attachStacktrace: captureMessage sends a synthetic exception
// without a type; one error is sent under a transaction name. Run by capture.py.
const Sentry = require('@sentry/node');

const [dsn, where] = process.argv.slice(2);
Sentry.init({ dsn, release: 'shop@1.0.0', environment: 'test', serverName: 'web-1',
  attachStacktrace: true });

function tagged(name, action) {
  Sentry.withScope((scope) => {
    scope.setTag('case', `${where}-${name}`);
    action(scope);
  });
}

function warmCache(keys) {
  Sentry.captureMessage(Sentry.parameterize`cache warmed for ${keys} keys`);
}

function rebuildIndex(keys) {
  Sentry.captureMessage(Sentry.parameterize`cache warmed for ${keys} keys`);  // another place
}

// The same call site each time: one issue; the same text sent from elsewhere: another.
for (const [name, keys] of [['stack-message', 120], ['stack-message-again', 7]]) {
  tagged(name, () => warmCache(keys));
}
tagged('stack-message-elsewhere', () => rebuildIndex(120));
tagged('transaction-reprice', (scope) => {
  scope.setTransactionName('GET /reprice/:sku');
  try {
    throw new RangeError('no price for B2');
  } catch (err) {
    Sentry.captureException(err);
  }
});
Sentry.flush(10000).then(() => process.exit(0));
