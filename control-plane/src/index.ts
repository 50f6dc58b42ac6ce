export * from './registry/inspect-model.js';
export * from './registry/artifact-store.js';
export * from './broker/acl.js';
export { hashToken, verifyToken, isTokenHash } from './broker/password.js';
export {
  startEmbeddedBroker,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  type BrokerRefusal,
} from './broker/embedded.js';
export { writeMosquittoConfig, type MosquittoConfigOptions } from './broker/mosquitto-config.js';
export { startServer, type RunningServer } from './server/server.js';
export { loadServerConfig, type ServerConfig } from './config.js';
export { verifyWebhookSignature } from './webhooks/signature.js';
