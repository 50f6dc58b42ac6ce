/**
 * Serve the local API on loopback TCP (default 127.0.0.1, port 0 picks a free one) or a unix socket.
 * A unix socket is the better choice on a device: file permissions decide who may run the model.
 */
import { lstat, chmod, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

export interface ServeLocalApiOptions {
  /** TCP host; default `127.0.0.1`. Ignored with `socketPath`. */
  readonly host?: string;
  /** TCP port; default 0 (a free port). Ignored with `socketPath`. */
  readonly port?: number;
  /** Listen on this unix socket instead of TCP. A stale socket file left by a crash is replaced. */
  readonly socketPath?: string;
  /** File mode of the socket; default 0o660 (the agent's user and group). */
  readonly socketMode?: number;
}

export type LocalApiAddress =
  | { readonly host: string; readonly port: number; readonly url: string }
  | { readonly socketPath: string };

export interface LocalApiServer {
  readonly address: LocalApiAddress;
  /** Stop accepting, close idle keep-alive connections, wait for requests in flight; remove the socket file. */
  close(): Promise<void>;
}

export async function serveLocalApi(
  app: Hono,
  options: ServeLocalApiOptions = {},
): Promise<LocalApiServer> {
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const socketPath = options.socketPath;
  if (socketPath !== undefined) {
    await removeStaleSocket(socketPath);
    await listen(server, { path: socketPath });
    await chmod(socketPath, options.socketMode ?? 0o660);
    return { address: { socketPath }, close: () => closeServer(server, socketPath) };
  }
  await listen(server, { host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const info = server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return {
    address: { host: info.address, port: info.port, url: `http://${host}:${info.port}` },
    close: () => closeServer(server),
  };
}

function listen(
  server: Server,
  target: { path: string } | { host: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(target);
  });
}

async function closeServer(server: Server, socketPath?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.close((error) => {
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
  if (socketPath !== undefined) await rm(socketPath, { force: true });
}

/**
 * A socket file with nobody listening is a leftover of a crash: remove it. One with a live
 * listener is another agent's: leave it, and `listen` fails with EADDRINUSE.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) return; // not ours to delete; listen reports EADDRINUSE
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    const done = (result: boolean) => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.destroy();
      resolve(result);
    };
    const onConnect = () => {
      done(true);
    };
    const onError = () => {
      done(false);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
  if (!alive) await rm(path, { force: true });
}
