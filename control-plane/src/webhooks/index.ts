/** Webhooks: registrations, the delivery outbox and dispatcher, and signatures. */
export * from './backoff.js';
export * from './dispatcher.js';
export * from './signature.js';
export * from './store.js';
