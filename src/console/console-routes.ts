// The treasury console (WDR-06): a page, its ES modules and a stylesheet, served by the API under
// /console/. The page is public because it holds no data: every call it makes carries the
// officer's own API key. Files are a fixed list read once at start, so no request path ever
// reaches the file system (`/console/../package.json` and its encodings are a 404 like any
// unknown name). The Content-Security-Policy allows this origin only: no inline script or
// style, no framing, no form posts, no other host.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineRoute, type RouteDef } from '../api/route.ts';
import { DomainError } from '../platform/errors.ts';

export const CONSOLE_STATIC_DIR = path.join(import.meta.dirname, 'static');

/**
 * Canonical JSON is the signer's own module (one implementation for the signer, the service and the
 * console), served as /console/canonical-json.js from where the signer imports it. (static/ holds a
 * symbolic link to it so that Node and tsc resolve console-core.js's import to the same file.)
 */
export const CANONICAL_JSON_FILE = path.resolve(import.meta.dirname, '../../signer/src/canonical-json.js');

export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // A new deployment must never run against a cached older module.
  'Cache-Control': 'no-store',
};

/**
 * Every file the console serves, by the name in its URL, with where it is read from (static/ unless
 * named). Nothing else is reachable.
 */
const FILES: Readonly<Record<string, { contentType: string; file?: string }>> = {
  'console.js': { contentType: 'text/javascript; charset=utf-8' },
  'console-core.js': { contentType: 'text/javascript; charset=utf-8' },
  'canonical-json.js': { contentType: 'text/javascript; charset=utf-8', file: CANONICAL_JSON_FILE },
  'console.css': { contentType: 'text/css; charset=utf-8' },
};

export function consoleRoutes(staticDir = CONSOLE_STATIC_DIR): RouteDef[] {
  // Read at start: a missing file stops the service instead of serving a broken console.
  const page = readFileSync(path.join(staticDir, 'index.html'), 'utf8');
  const assets = new Map(Object.entries(FILES).map(([name, { contentType, file }]) => [name, { contentType, body: readFileSync(file ?? path.join(staticDir, name), 'utf8') }]));
  return [
    defineRoute({
      method: 'get', path: '/console/', tag: 'console', roles: 'public',
      summary: 'The treasury console page (holds no data; its calls use the officer’s API key, and it signs in the browser)',
      responses: { 200: 'HTML page' },
      async handler() {
        return { status: 200, body: page, contentType: 'text/html; charset=utf-8', headers: HEADERS };
      },
    }),
    defineRoute({
      method: 'get', path: '/console/:file', tag: 'console', roles: 'public',
      summary: 'The console’s scripts and stylesheet (a fixed list; any other name is a 404)',
      params: z.strictObject({ file: z.string() }),
      responses: { 200: 'Static file', 404: 'No such file' },
      async handler({ params }) {
        const asset = Object.hasOwn(FILES, params.file) ? assets.get(params.file) : undefined;
        if (!asset) throw new DomainError('NOT_FOUND', 'no such console file');
        return { status: 200, body: asset.body, contentType: asset.contentType, headers: HEADERS };
      },
    }),
  ];
}
