import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

// The browser page (examples/browser) end to end, in a real Chromium driven by Playwright: it trains
// on WebGPU (Chromium's SwiftShader adapter here), switches to gradient accumulation, then to wasm.
// Needs Debian's chromium (/usr/bin/chromium, or CHROMIUM_PATH); CI installs it and sets
// GRADCACHE_REQUIRE_BROWSER=1, so there a missing browser fails instead of skipping. The screenshot
// is written to test/artifacts/browser-page.png.
const executablePath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(executablePath);
const required = process.env['GRADCACHE_REQUIRE_BROWSER'] === '1';
const root = resolve(import.meta.dirname, '../..');
const artifacts = join(root, 'test', 'artifacts');

interface DemoState {
  backend?: string;
  running: boolean;
  runs: { strategy: string; backend: string; chunkSize: number; recallAt1: number; logs: { loss: number; peakBytes: number }[] }[];
  error?: string;
}

if (!available) {
  test.skipIf(!required)(`browser page: skipped, because there is no Chromium at ${executablePath} (apt-get install chromium)`, () => {
    throw new Error(`no Chromium at ${executablePath}`);
  });
}

describe.runIf(available)('the browser page trains with GradCache in Chromium', () => {
  let server: ViteDevServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    server = await createServer({
      root: join(root, 'examples', 'browser'),
      configFile: join(root, 'examples', 'browser', 'vite.config.ts'),
      server: { host: '127.0.0.1', port: 0, strictPort: false },
      logLevel: 'silent',
    });
    await server.listen();
    browser = await chromium.launch({
      executablePath,
      // As root in a sandbox, offline: no sandbox, no background network. WebGPU on Chromium's own
      // SwiftShader Vulkan, WebGL on SwiftShader GL.
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--use-webgpu-adapter=swiftshader',
        '--use-angle=swiftshader',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console.${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const state = (): Promise<DemoState> => page.evaluate(() => (globalThis as unknown as { gradcacheDemo: DemoState }).gradcacheDemo);

  /** Waits until the page has finished `count` runs (or failed), and returns its state. */
  async function finished(count: number): Promise<DemoState> {
    await page.waitForFunction(
      (n) => {
        const s = (globalThis as unknown as { gradcacheDemo?: DemoState }).gradcacheDemo;
        return s !== undefined && !s.running && (s.runs.length >= n || s.error !== undefined);
      },
      count,
      { timeout: 120_000, polling: 200 },
    );
    const s = await state();
    expect(s.error).toBeUndefined();
    return s;
  }

  test('GradCache on webgpu, then accumulation, then wasm: every run trains and the loss falls, with no console error', async () => {
    const url = server.resolvedUrls?.local[0] as string;
    await page.goto(`${url}?backend=webgpu&strategy=cached&batch=128&chunk=32&steps=12&autostart`);
    let s = await finished(1);
    expect(s.backend).toBe('webgpu');

    await page.selectOption('select[name=strategy]', 'accumulate');
    await page.click('#start');
    s = await finished(2);

    await page.selectOption('select[name=backend]', 'wasm');
    await page.selectOption('select[name=strategy]', 'cached');
    await page.selectOption('select[name=chunk]', '8');
    await page.click('#start');
    s = await finished(3);

    expect(s.runs.map((r) => [r.backend, r.strategy, r.chunkSize])).toEqual([
      ['webgpu', 'cached', 32],
      ['webgpu', 'accumulate', 32],
      ['wasm', 'cached', 8],
    ]);
    for (const run of s.runs) {
      expect(run.logs).toHaveLength(12);
      const [first, last] = [run.logs[0]?.loss as number, run.logs.at(-1)?.loss as number];
      expect(last).toBeLessThan(first - 0.5);
      expect(run.recallAt1).toBeGreaterThan(100 / 512); // better than chance over 512 held-out documents
    }
    // GradCache is exact: chunks of 32 on webgpu and chunks of 8 on wasm follow the same loss curve
    // (float32 kernels differ in rounding only); accumulation, on the same chunks, does not.
    const gap = (a: number, b: number) => Math.max(...s.runs[a]!.logs.map((log, k) => Math.abs(log.loss - s.runs[b]!.logs[k]!.loss)));
    expect(gap(0, 2)).toBeLessThan(1e-3);
    expect(gap(0, 1)).toBeGreaterThan(0.1);
    expect(await page.locator('#runs tr').count()).toBe(3);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'browser-page.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 240_000);
});
