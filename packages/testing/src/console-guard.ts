import { afterEach, beforeEach, vi } from 'vitest';

// A test that writes to the console has changed behaviour (a tfjs warning, a leftover debug line):
// fail it, as zod's suite does. Registered for every test file by vitest.config.ts.
const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
let spies: ReturnType<typeof vi.spyOn>[] = [];

beforeEach(() => {
  spies = methods.map((m) => vi.spyOn(console, m));
});

afterEach(() => {
  const calls = spies.flatMap((spy, k) =>
    spy.mock.calls.map((args) => `console.${methods[k]}(${args.map(String).join(' ').slice(0, 200)})`),
  );
  spies.forEach((spy) => spy.mockRestore());
  if (calls.length > 0) throw new Error(`the test wrote to the console:\n${calls.join('\n')}`);
});
