// ESM mode (run with NODE_OPTIONS=--experimental-vm-modules): the only way Jest loads NestJS 12 on Node 20.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // The repository's own tests only: the fixture apps' tests run inside their apps (test/package.e2e-spec.ts).
  testMatch: ['<rootDir>/test/*.{spec,e2e-spec}.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^nestjs-genesys-auth$': '<rootDir>/lib/index.ts',
    '^nestjs-genesys-auth/(health|testing|sdk|redis)$': '<rootDir>/lib/$1/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testTimeout: 20000,
};
