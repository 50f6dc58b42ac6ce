import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FakeRuntime, type FakeModelSignature } from './fake-runtime.js';
import type { TensorData } from './model-runtime.js';
import { describeRuntimeContract, writeContractModels } from './runtime-contract.test-support.js';

const identity: FakeModelSignature = {
  inputs: [{ name: 'input', type: 'float32', dims: ['batch_size', 4] }],
  outputs: [{ name: 'output', type: 'float32', dims: ['batch_size', 4] }],
};
const linear: FakeModelSignature = {
  inputs: [{ name: 'input', type: 'float32', dims: ['batch_size', 4] }],
  outputs: [{ name: 'logits', type: 'float32', dims: ['batch_size', 3] }],
};

// The fake reads the same model files as onnxruntime (their declared signatures); the failing
// model's failure is configured, since the fake does not execute graphs.
describeRuntimeContract('FakeRuntime', async () => {
  const models = await writeContractModels();
  return {
    runtime: new FakeRuntime({ failRun: (call) => call.modelPath === models.failing }),
    ...models,
  };
});

/** A clock that only moves when told to; `sleep` resolves when it passes the deadline. */
class ManualClock {
  private nowMs = 0;
  private readonly timers: { at: number; resolve: () => void }[] = [];
  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => this.timers.push({ at: this.nowMs + ms, resolve }));
  advance(ms: number): void {
    this.nowMs += ms;
    for (const timer of this.timers.filter((t) => t.at <= this.nowMs)) {
      this.timers.splice(this.timers.indexOf(timer), 1);
      timer.resolve();
    }
  }
}

const input = (values: number[]): Record<string, TensorData> => ({
  input: { type: 'float32', dims: [values.length / 4, 4], data: Float32Array.from(values) },
});

describe('FakeRuntime', () => {
  it('takes the configured latency on the injected clock', async () => {
    const clock = new ManualClock();
    const runtime = new FakeRuntime({
      describe: () => identity,
      latencyMs: 50,
      sleep: clock.sleep,
    });
    const model = await runtime.load('m', { executionProviders: ['cpu'] });
    let done = false;
    const run = model.run(input([1, 2, 3, 4])).then((out) => {
      done = true;
      return out;
    });
    clock.advance(49);
    await turn();
    expect(done).toBe(false);
    clock.advance(1);
    expect([...(await run).output!.data]).toEqual([1, 2, 3, 4]);
  });

  it('computes per-call latency and failures from the call', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const runtime = new FakeRuntime({
      describe: () => identity,
      sleep: (ms) => {
        seen.push(ms);
        return clock.sleep(ms);
      },
      latencyMs: (call) => 10 * (call.index + 1),
      failRun: (call) => call.index % 3 === 2,
    });
    const model = await runtime.load('m', { executionProviders: ['cpu'] });
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const run = model.run(input([1, 2, 3, 4]));
      clock.advance(1_000);
      outcomes.push(
        await run.then(
          () => 'ok',
          (e: unknown) => (e as { code: string }).code,
        ),
      );
    }
    expect(seen).toEqual([10, 20, 30, 40, 50, 60]);
    expect(outcomes).toEqual(['ok', 'ok', 'EF_INTERNAL', 'ok', 'ok', 'EF_INTERNAL']);
    expect(runtime.runCount).toBe(6);
  });

  it('answers like the sample linear classifier', async () => {
    const runtime = new FakeRuntime({ describe: () => linear });
    const model = await runtime.load('linear', { executionProviders: ['cpu'] });
    const out = await model.run(input([1, 0, 0, 0, 0, 1, 0, 0]));
    // w[f][c] = ((7f + 3c) mod 11 - 5) / 8, b[c] = (c mod 5 - 2) / 4
    expect([...out.logits!.data]).toEqual([
      -0.5 + -5 / 8,
      -0.25 + -2 / 8,
      0 + 1 / 8,
      -0.5 + 2 / 8,
      -0.25 + 5 / 8,
      0 + -3 / 8,
    ]);
    expect(out.logits!.dims).toEqual([2, 3]);
  });

  it('can serve a broken model whose outputs are all NaN', async () => {
    const runtime = new FakeRuntime({ describe: () => identity, nanOutputs: true });
    const model = await runtime.load('m', { executionProviders: ['cpu'] });
    const out = await model.run(input([1, 2, 3, 4]));
    expect([...out.output!.data].every(Number.isNaN)).toBe(true);
  });

  it('uses the first preferred provider the fake device has', async () => {
    const runtime = new FakeRuntime({
      describe: () => identity,
      availableProviders: ['cuda', 'cpu'],
    });
    const model = await runtime.load('m', { executionProviders: ['tensorrt', 'cuda', 'cpu'] });
    expect(model.executionProvider).toBe('cuda');
    expect(model.providerFallbacks.map((a) => a.provider)).toEqual(['tensorrt']);
  });

  it('fills integer outputs with rounded values', async () => {
    const runtime = new FakeRuntime({
      describe: () => ({
        inputs: linear.inputs,
        outputs: [{ name: 'label', type: 'int64', dims: ['batch_size', 3] }],
      }),
    });
    const model = await runtime.load('m', { executionProviders: ['cpu'] });
    const out = await model.run(input([4, 4, 4, 4]));
    expect(out.label!.type).toBe('int64');
    expect(out.label!.data).toBeInstanceOf(BigInt64Array);
  });

  it('rejects a run that lacks a declared input, like onnxruntime', async () => {
    const runtime = new FakeRuntime({ describe: () => identity });
    const model = await runtime.load('m', { executionProviders: ['cpu'] });
    await expect(model.run({})).rejects.toMatchObject({ code: 'EF_INTERNAL' });
  });

  it('counts open models and forgets disposed ones', async () => {
    const runtime = new FakeRuntime({ describe: () => identity });
    const a = await runtime.load('a', { executionProviders: ['cpu'] });
    await runtime.load('b', { executionProviders: ['cpu'] });
    expect(runtime.openModels).toBe(2);
    await a.dispose();
    expect(runtime.openModels).toBe(1);
  });
});
