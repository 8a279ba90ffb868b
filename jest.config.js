/** Tests run on the TypeScript sources directly (ts-jest, transpile only: `tsc -b` type-checks). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/bench'],
  testMatch: ['**/src/**/*.test.ts', '**/test/**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false, tsconfig: 'tsconfig.jest.json' }] },
  moduleNameMapper: { '^@fpt-ts/(tensor|autograd|gpt2|tasks|fpt)$': '<rootDir>/packages/$1/src' },
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/scripts/jest-summary.js'],
};
