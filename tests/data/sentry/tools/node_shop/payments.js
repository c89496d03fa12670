class PaymentError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'PaymentError';
  }
}

function callGateway(cause) {
  if (cause === 'timeout') throw new RangeError('gateway did not answer in 30 s');
  throw new SyntaxError(`card ${cause} rejected`);
}

function pay(cause) {
  try {
    callGateway(cause);
  } catch (err) {
    throw new PaymentError('payment failed', { cause: err });
  }
}

module.exports = { pay };
