// One-off generator for artifacts/TestUsdt.json: run `npx tsx src/chains/ethereum/contracts/compile-test-usdt.ts`
// after editing TestUsdt.sol. Uses the solcjs that hardhat 2 already installs (no download); the
// runtime only reads the committed artifact. The artifact records the source's sha256 so a test
// can tell when the two drift apart.
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
}

const require = createRequire(import.meta.url);
const solc = require('solc') as { version(): string; compile(input: string): string };
const dir = import.meta.dirname;
const source = readFileSync(path.join(dir, 'TestUsdt.sol'), 'utf8');
const input = {
  language: 'Solidity',
  sources: { 'TestUsdt.sol': { content: source } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
};
const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
const contract = output.contracts['TestUsdt.sol']?.TestUsdt;
if (!contract) throw new Error('TestUsdt missing from solc output');
const artifact = {
  contractName: 'TestUsdt',
  compiler: `solc ${solc.version()}`,
  sourceSha256: createHash('sha256').update(source).digest('hex'),
  abi: contract.abi,
  bytecode: `0x${contract.evm.bytecode.object}`,
};
writeFileSync(path.join(dir, '..', 'artifacts', 'TestUsdt.json'), `${JSON.stringify(artifact, null, 2)}\n`);
console.log(`wrote artifacts/TestUsdt.json (${artifact.compiler}, ${contract.evm.bytecode.object.length / 2} bytes)`);
