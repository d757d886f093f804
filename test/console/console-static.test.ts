// The treasury console is served by the API (WDR-06): a public page with a strict
// Content-Security-Policy, its ES modules (the page, its core, and the signer's canonical JSON
// module) and a stylesheet from this origin only, and no path that reaches anything outside the
// console's own fixed list of files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { CANONICAL_JSON_FILE, CONSOLE_STATIC_DIR } from '../../src/console/console-routes.ts';

let app: TestApp;
before(async () => { app = await startTestApp(); });
after(async () => { await app.close(); });

/** A GET with the path sent exactly as written: fetch() would resolve `..` before sending. */
function rawGet(rawPath: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: 'GET', path: rawPath }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertStrictCsp(csp: string | null | undefined, what: string): void {
  assert.ok(csp, `${what}: a Content-Security-Policy header`);
  const directives = new Map(csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => [d.split(/\s+/)[0]!, d.split(/\s+/).slice(1)]));
  assert.deepEqual(directives.get('default-src'), ["'self'"], `${what}: default-src 'self'`);
  for (const [name, sources] of directives) {
    for (const source of sources) {
      assert.ok(!/unsafe-|^\*$|^https?:|^data:|^blob:/.test(source), `${what}: ${name} allows ${source}`);
    }
  }
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${what}: never framed`);
}

test('WDR-06 GET /console/ serves the console page to anyone, with a strict CSP (default-src \'self\', no inline script) and no data in it', async () => {
  for (const url of ['/console/', '/console']) {
    const res = await fetch(`${app.url}${url}`);
    assert.equal(res.status, 200, url);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    assertStrictCsp(res.headers.get('content-security-policy'), url);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const html = await res.text();
    // Every script is this origin's module; no inline script, handler or style; nothing from elsewhere.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.equal(scripts.length, 1, 'one script');
    assert.match(scripts[0]![1]!, /type="module"/);
    assert.match(scripts[0]![1]!, /src="\/console\/console\.js"/);
    assert.equal(scripts[0]![2]!.trim(), '', 'no inline script');
    assert.ok(!/\son[a-z]+\s*=/i.test(html), 'no inline event handlers');
    assert.ok(!/\sstyle\s*=|<style/i.test(html), 'no inline style');
    for (const [, ref] of html.matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(ref!, /^\/console\/[a-z.]+$/, `served from here: ${ref}`);
    assert.ok(!/https?:\/\//.test(html), 'no other host');
    assert.ok(!/amk_[A-Za-z0-9]{10}/.test(html), 'the page holds no key');
  }
  // Public as /healthz is: any key or none gets the same page.
  const withKey = await app.call('GET', '/console/', { key: app.keys.auditor });
  assert.equal(withKey.status, 200);
});

test('WDR-06 KEY-08 the console modules and stylesheet are served from the repository with their types and the same CSP; canonical-json.js is the signer\'s own file', async () => {
  /** What each served file is read from: canonical JSON is the signer's module, not a copy. */
  const sources: Record<string, string> = {
    'console.js': path.join(CONSOLE_STATIC_DIR, 'console.js'),
    'console-core.js': path.join(CONSOLE_STATIC_DIR, 'console-core.js'),
    'canonical-json.js': path.resolve(import.meta.dirname, '../../signer/src/canonical-json.js'),
    'console.css': path.join(CONSOLE_STATIC_DIR, 'console.css'),
  };
  assert.equal(CANONICAL_JSON_FILE, sources['canonical-json.js']);
  for (const [file, type] of [['console.js', /^text\/javascript/], ['console-core.js', /^text\/javascript/], ['canonical-json.js', /^text\/javascript/], ['console.css', /^text\/css/]] as const) {
    const res = await fetch(`${app.url}/console/${file}`);
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-type') ?? '', type);
    assertStrictCsp(res.headers.get('content-security-policy'), file);
    assert.equal(await res.text(), readFileSync(sources[file]!, 'utf8'), `${file} is the file in the repository`);
  }
  // In the repository, static/canonical-json.js is a link to the signer's file, so that Node (the
  // tests) and tsc resolve console-core.js's import to the very file the browser is served.
  assert.ok(lstatSync(path.join(CONSOLE_STATIC_DIR, 'canonical-json.js')).isSymbolicLink(), 'a link, not a copy');
  assert.equal(realpathSync(path.join(CONSOLE_STATIC_DIR, 'canonical-json.js')), realpathSync(sources['canonical-json.js']!));
  const css = readFileSync(path.join(CONSOLE_STATIC_DIR, 'console.css'), 'utf8');
  assert.ok(!/@import|url\(/i.test(css), 'the stylesheet loads nothing else');
  /** Each module imports only the next one of this origin: no CDN, no build step. */
  const allowedImports: Record<string, string[]> = { 'console.js': ['./console-core.js'], 'console-core.js': ['./canonical-json.js'], 'canonical-json.js': [] };
  for (const [file, allowed] of Object.entries(allowedImports)) {
    const js = readFileSync(sources[file]!, 'utf8');
    const code = js.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, ''); // JSDoc type imports are not imports
    const imports = [...code.matchAll(/\bimport\s*\(|\bfrom\s*['"]([^'"]*)['"]|\bimport\s*['"]([^'"]*)['"]|\brequire\s*\(/g)].map((m) => m[1] ?? m[2] ?? 'import()/require()');
    assert.deepEqual([...new Set(imports)], allowed, `${file} imports only ${allowed.join(', ') || 'nothing'} (${imports.join(', ')})`);
    assert.ok(!/localStorage/.test(js.replace(/\/\/.*$/gm, '')), `${file}: the API key never goes to localStorage`);
    assert.ok(!/\bconsole\.(log|info|warn|error|debug)\b/.test(js), `${file} logs nothing`);
  }
});

test('WDR-06 console paths cannot escape the static folder: ../, encoded variants and unlisted names are 404', async () => {
  const escapes = [
    '/console/../package.json', '/console/..%2Fpackage.json', '/console/..%2fpackage.json', '/console/%2e%2e/package.json',
    '/console/%2e%2e%2fpackage.json', '/console/%2E%2E%2Fpackage.json', '/console/..%5Cpackage.json', '/console/..\\package.json',
    '/console/%252e%252e%252fpackage.json', '/console/....//package.json', '/console/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/console/static/console.js', '/console/index.html', '/console/console-routes.ts', '/console/..', '/console/%2e%2e',
    '/console/.%2e/package.json', '/console//etc/passwd', '/console/console.js.map', '/console/CONSOLE.JS',
    '/console/%00../package.json', '/console/__proto__', '/console/constructor', '/console/hasOwnProperty', '/console/../src/console/console-routes.ts',
    '/console/../signer/src/canonical-json.js', '/console/..%2Fsigner%2Fsrc%2Fintent.ts', '/console/intent.ts', '/console/errors.ts', '/console/canonical-json.ts',
  ];
  const secrets = [readFileSync('package.json', 'utf8').slice(0, 40), 'root:x:0:0', 'readFileSync'];
  for (const raw of escapes) {
    const res = await rawGet(raw);
    assert.equal(res.status, 404, `${raw} -> ${res.status} ${res.body.slice(0, 120)}`);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, raw);
    assert.equal(JSON.parse(res.body).code, 'NOT_FOUND', raw);
    for (const s of secrets) assert.ok(!res.body.includes(s), `${raw} leaks nothing`);
  }
  // A NUL or broken percent-encoding is refused before any lookup.
  for (const raw of ['/console/console.js%00', '/console/%00..%2fpackage.json', '/console/%E0%A4%A']) {
    const res = await rawGet(raw);
    assert.equal(res.status, 400, raw);
    assert.equal(JSON.parse(res.body).code, 'VALIDATION_FAILED', raw);
  }
});

test('WDR-06 the console routes are public reads with a role rule and no query string; nothing mutating', () => {
  const routes = app.amanat.routes.filter((r) => r.path.startsWith('/console'));
  assert.deepEqual(routes.map((r) => `${r.method} ${r.path}`).sort(), ['get /console/', 'get /console/:file']);
  for (const r of routes) {
    assert.equal(r.roles, 'public');
    assert.equal(r.mutating, false);
  }
});
