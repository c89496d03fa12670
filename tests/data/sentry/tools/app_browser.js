// The real @sentry/browser in Chromium, page and SDK served from another origin than
// the DSN's, with attachStacktrace: captureMessage sends a synthetic exception without
// a type. Loaded by app_browser.html; run by capture_browser.py.
import * as Sentry from '@sentry/browser';

const dsn = new URLSearchParams(location.search).get('dsn');
Sentry.init({ dsn, release: 'shop@1.0.0', environment: 'test', attachStacktrace: true,
  defaultIntegrations: false, integrations: [] });

function tagged(name, action) {
  Sentry.withScope((scope) => {
    scope.setTag('case', `app-${name}`);
    action(scope);
  });
}

function warmCache(keys) {
  Sentry.captureMessage(`cache warmed for ${keys} keys`);
}

function rebuildIndex(keys) {
  Sentry.captureMessage(`cache warmed for ${keys} keys`);  // the same text, another place
}

// The same call site each time: one issue; the same text sent from elsewhere: another.
for (const [name, keys] of [['stack-message', 120], ['stack-message-again', 7]]) {
  tagged(name, () => warmCache(keys));
}
tagged('stack-message-elsewhere', () => rebuildIndex(120));
tagged('transaction-cart', (scope) => {
  scope.setTransactionName('/cart/:id');
  try {
    null.total;  // eslint-disable-line no-unused-expressions
  } catch (err) {
    Sentry.captureException(err);
  }
});
Sentry.flush(10000).then(() => { document.title = 'sent'; });
