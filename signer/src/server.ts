// HTTP over a Unix domain socket (mode 0600): the only way in. Validation with zod, one place that
// maps SignerError codes to statuses, every sign decision logged.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { ZodError } from 'zod';
import { SignerError } from './errors.ts';
import { createKeySchema, reportSignRequestSchema, restoreKeySchema, signRequestSchema, wrapKeySchema } from './schemas.ts';
import type { Logger, SignService } from './sign-service.ts';

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readJson(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) throw new SignerError('PAYLOAD_TOO_LARGE', `body larger than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new SignerError('INVALID_REQUEST', 'body is not JSON');
  }
}

export function createSignerServer(service: SignService, options: { maxBodyBytes: number; log: Logger }): Server {
  const { log } = options;
  return createServer((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0] ?? '/';
      let requestId: string | undefined;
      try {
        if (request.method === 'GET' && path === '/health') return send(response, 200, service.health());
        if (request.method === 'GET' && path === '/keys') return send(response, 200, { keys: service.listKeys() });
        if (request.method === 'GET' && path === '/keys/count') return send(response, 200, await service.keyCount());
        if (request.method === 'POST' && path === '/keys') {
          return send(response, 201, await service.createKey(createKeySchema.parse(await readJson(request, options.maxBodyBytes))));
        }
        if (request.method === 'POST' && path === '/keys/restore') {
          return send(response, 201, await service.restoreKey(restoreKeySchema.parse(await readJson(request, options.maxBodyBytes))));
        }
        const keyAction = /^\/keys\/([0-9a-f]{1,128})\/(backup|prove)$/.exec(path);
        if (request.method === 'POST' && keyAction?.[1] && keyAction[2] === 'backup') {
          return send(response, 200, await service.wrapKey(keyAction[1], wrapKeySchema.parse(await readJson(request, options.maxBodyBytes))));
        }
        if (request.method === 'POST' && keyAction?.[1] && keyAction[2] === 'prove') {
          const body = await readJson(request, options.maxBodyBytes) as { message?: unknown };
          if (typeof body.message !== 'string' || body.message.length > 1024) throw new SignerError('INVALID_REQUEST', 'message must be a string of at most 1024 characters');
          return send(response, 200, await service.proveKey(keyAction[1], body.message));
        }
        if (request.method === 'GET' && path === '/reports/key') return send(response, 200, await service.reportKeyInfo());
        if (request.method === 'POST' && path === '/reports/sign') {
          return send(response, 200, await service.signReport(reportSignRequestSchema.parse(await readJson(request, options.maxBodyBytes)).manifest));
        }
        if (request.method === 'POST' && path === '/sign') {
          const raw = await readJson(request, options.maxBodyBytes);
          if (raw && typeof raw === 'object' && typeof (raw as { requestId?: unknown }).requestId === 'string') requestId = (raw as { requestId: string }).requestId;
          return send(response, 200, await service.sign(signRequestSchema.parse(raw)));
        }
        throw new SignerError('NOT_FOUND', `no route ${request.method ?? ''} ${path}`);
      } catch (error) {
        if (error instanceof ZodError) {
          const message = error.issues.slice(0, 5).map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
          log({ event: 'refused', path, requestId, code: 'INVALID_REQUEST', message });
          return send(response, 400, { code: 'INVALID_REQUEST', message });
        }
        if (error instanceof SignerError) {
          log({ event: 'refused', path, requestId, code: error.code, message: error.message });
          return send(response, error.status, { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) });
        }
        const errorId = randomUUID();
        log({ event: 'error', path, requestId, errorId, error: error instanceof Error ? error.stack ?? error.message : String(error) });
        return send(response, 500, { code: 'INTERNAL', message: `internal error ${errorId}` });
      }
    })();
  });
}

export async function listenOnSocket(server: Server, socketPath: string): Promise<void> {
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(previousMask);
  }
  chmodSync(socketPath, 0o600);
}
