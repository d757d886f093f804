// What package.json installs is what the code uses, and it all runs on the Node the project
// declares: no dependency installed for nothing, none that asks for a newer Node than ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
const pkg = readJson(path.join(root, 'package.json'));
const signerPkg = readJson(path.join(root, 'signer/package.json'));

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'data' || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) out.push(full);
  }
  return out;
}

test('WAL-07 every runtime dependency in package.json is used by the code (imported, required or resolved): none is installed for nothing', () => {
  const code = ['src', 'test', 'scripts', 'bench', 'migrations', 'bin', 'signer']
    .flatMap((d) => sourceFiles(path.join(root, d)))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const unused = Object.keys(pkg.dependencies as Record<string, string>).filter((name) => {
    const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    return !new RegExp(`['"]${escaped}(/[^'"]*)?['"]`).test(code);
  });
  assert.deepEqual(unused, [], 'dependencies nothing uses: remove them from package.json');
});

/** Whether `version` (x.y.z) satisfies an engines range of the forms npm packages use here: ">= a.b", ">=a.b.c", "^a.b.c", "a || b". */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string) => { const [a = 0, b = 0, c = 0] = v.split('.').map(Number); return [a, b, c] as const; };
  const compare = (x: readonly number[], y: readonly number[]) => x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  const v = parse(version);
  return range.split('||').some((alternative) => {
    const m = /^\s*(>=|\^|>)?\s*(\d+(?:\.\d+){0,2})\s*$/.exec(alternative);
    assert.ok(m, `engines range ${JSON.stringify(range)}: the test does not read ${JSON.stringify(alternative)}; extend satisfies()`);
    const bound = parse(m[2]!);
    if (m[1] === '>=') return compare(v, bound) >= 0;
    if (m[1] === '>') return compare(v, bound) > 0;
    if (m[1] === '^') return v[0] === bound[0] && compare(v, bound) >= 0;
    return compare(v, bound) === 0;
  });
}

test('WAL-07 every direct dependency (service, signer, dev) runs on the oldest Node the project declares', () => {
  const floor = /^>=\s*(\d+(?:\.\d+){0,2})/.exec(pkg.engines.node as string)?.[1];
  assert.ok(floor, `package.json engines.node ${JSON.stringify(pkg.engines.node)} starts with >=`);
  const names = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies), ...Object.keys(signerPkg.dependencies)]);
  const tooNew: string[] = [];
  for (const name of names) {
    const installed = readJson(path.join(root, 'node_modules', name, 'package.json'));
    const range = (installed.engines as { node?: string } | undefined)?.node;
    if (range !== undefined && !satisfies(floor, range)) tooNew.push(`${name}@${String(installed.version)} needs Node ${range}`);
  }
  assert.deepEqual(tooNew, [], `dependencies that do not run on Node ${floor}`);
});
