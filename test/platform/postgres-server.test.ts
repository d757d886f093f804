// The embedded Postgres runs as the OS user `postgres` when we are root, so it needs to search
// (x) every directory above its data. Starting it must never open up a directory that is not the
// service's own: not /tmp's sticky, world-writable mode, not a private directory above the data dir.
// Every directory this file changes the mode of, it made itself.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPostgres, type PostgresServer } from '../../src/platform/postgres-server.ts';

const mode = (p: string) => statSync(p).mode & 0o7777;
const octal = (m: number) => `0${m.toString(8)}`;
const systemDirs = ['/', '/tmp', tmpdir()];
const systemModes = new Map(systemDirs.map((d) => [d, mode(d)]));
const base = process.env.AMANAT_TEST_TMP ?? tmpdir();
const runningAsRoot = process.getuid?.() === 0;
const servers: PostgresServer[] = [];

after(async () => {
  for (const server of servers) await server.stop();
  for (const [dir, before] of systemModes) assert.equal(octal(mode(dir)), octal(before), `${dir} kept its mode`);
});

async function start(dataDir: string): Promise<PostgresServer> {
  const server = await startPostgres({ dataDir, persistent: false, password: randomBytes(8).toString('hex') });
  servers.push(server);
  return server;
}

test('SEG-11 a sticky world-writable parent (mode 1777, like /tmp) keeps its mode when Postgres starts under it', async () => {
  const parent = mkdtempSync(path.join(base, 'sticky-'));
  chmodSync(parent, 0o1777);
  const server = await start(path.join(parent, 'pg'));
  assert.ok(server.port > 0);
  assert.equal(octal(mode(parent)), '01777');
  await server.stop();
  assert.equal(octal(mode(parent)), '01777');
  for (const [dir, before] of systemModes) assert.equal(octal(mode(dir)), octal(before), `${dir} kept its mode`);
});

test('SEG-11 the data directory gets only the search bit Postgres needs, nothing else', async () => {
  const dataDir = mkdtempSync(path.join(base, 'private-data-')); // 0700, as mkdtemp makes it
  assert.ok((await start(path.join(dataDir, 'pg'))).port > 0);
  assert.equal(octal(mode(dataDir)), runningAsRoot ? '0701' : '0700', 'o+x only: never read or write for others');
});

test('SEG-11 a directory above the data directory that others cannot search is left alone: as root the start fails naming it', async () => {
  const outer = mkdtempSync(path.join(base, 'private-outer-')); // 0700: not the service's
  const dataDir = path.join(outer, 'data');
  mkdirSync(dataDir);
  chmodSync(dataDir, 0o755);
  if (runningAsRoot) {
    // Postgres runs as the OS user postgres, which cannot reach the data through `outer`.
    await assert.rejects(start(path.join(dataDir, 'pg')), (error: Error) => {
      assert.ok(error.message.includes(outer), error.message);
      assert.match(error.message, /postgres/);
      return true;
    });
  } else {
    // Postgres runs as us: nothing to open up.
    assert.ok((await start(path.join(dataDir, 'pg'))).port > 0);
  }
  assert.equal(octal(mode(outer)), '0700');
  assert.equal(octal(mode(dataDir)), '0755');
});
