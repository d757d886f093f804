// One lint config for the service and the signer. Type-aware rules catch floating promises,
// which in a money service are lost writes.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tmp/**', '**/artifacts/**', 'signer/data/**', 'cache/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's test()/describe() return promises the runner itself awaits.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-globals': ['error', { name: 'parseFloat', message: 'Money is bigint in base units.' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Tests read JSON answers of any shape.
    files: ['test/**/*.ts', 'signer/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' } },
  },
  {
    // The treasury console's browser module (typechecked by tsc through // @ts-check). It never
    // logs (secrets pass through it) and keeps the API key in sessionStorage, never localStorage.
    files: ['src/console/static/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', TextEncoder: 'readonly', atob: 'readonly', btoa: 'readonly' } },
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', { name: 'localStorage', message: 'The API key lives in sessionStorage only.' }],
      'no-restricted-syntax': ['error', { selector: "MemberExpression[property.name='localStorage']", message: 'The API key lives in sessionStorage only.' },
        { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: 'Build nodes with textContent: API data is never HTML.' }],
    },
  },
  {
    // CommonJS launchers for CommonJS packages (the dev bcoin node).
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
