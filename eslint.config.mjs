// Lint (`npm run lint`, run by CI before the tests): ESLint's and typescript-eslint's
// recommended rules with type information for the TypeScript (library, tests, benchmarks),
// plus the rules that guard this codebase's own conventions. Where a rule is off or tuned,
// the line says why; a single line that must break a rule carries an eslint-disable comment
// with its reason.
// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-*/', 'node_modules/', 'bench/out/', 'runs/', 'tmp/', 'mdmt-demo/'] },
  // a disable comment that no longer silences anything is an error: it would hide the next problem
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_name` marks a binding kept on purpose (destructuring a field away, a callback's slot)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // arrays print as `1,2,3` in labels and messages, which is what the code means by `${shape}`
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true, allowArray: true, allowRegExp: true }],
      // the numeric modules (metrics, stats, report) write `!` on indexed reads on purpose, as
      // under noUncheckedIndexedAccess; the rule would strip them
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // a forgotten await loses errors and ordering (the loader, the sweep, the CLI)
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/prefer-optional-chain': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // plain Node scripts (CommonJS): no type information
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node, sourceType: 'commonjs' },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module' },
  },
);
