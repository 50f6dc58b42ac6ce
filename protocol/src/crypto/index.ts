export * from './ed25519.js';
export * from './envelope.js';
export * from './keys.js';
export * from './sha256.js';
