import {
  compareHealthCheck,
  decodeProfile,
  HealthCheckSampleSchema,
  initTrustState,
  linearClassifier,
  verifyRelease,
} from '@edgefleet/protocol';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runModelOnce } from '../registry/inspect-model.js';
import { modelRoutes } from './models.js';
import { createTestApi, type TestApi } from './services.test-support.js';
import { tokenRoutes } from './tokens.js';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi((s) => [...tokenRoutes(s), ...modelRoutes(s)]);
});
afterAll(async () => {
  await api.close();
});

const model = linearClassifier({ features: 3, classes: 4 });
const csv =
  'temp,humidity,pressure\n' +
  Array.from({ length: 300 }, (_, i) => `${i % 17},${(i * 7) % 11},${1000 + (i % 5)}`).join('\n');

function push(
  name: string,
  fields: Record<string, string>,
  files: Record<string, [Uint8Array | string, string]>,
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const [k, [data, filename]] of Object.entries(files))
    form.append(k, new Blob([data]), filename);
  return api.app.request(`/v1/models/${name}/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.adminToken}` },
    body: form,
  });
}

type Json = Record<string, unknown>;

describe('model registry', () => {
  it('pushes a model with a reference dataset: inspection, derived feature spec and a stored reference profile', async () => {
    const r = await push(
      'sensor',
      { version: '1', metadata: JSON.stringify({ framework: 'numpy', notes: 'demo' }) },
      {
        model: [model, 'model.onnx'],
        reference: [csv, 'reference.csv'],
      },
    );
    expect(r.status, await r.clone().text()).toBe(201);
    const body = (await r.json()) as Json & {
      inspection: {
        inputs: { name: string; type: string; shape: unknown[] }[];
        outputs: { name: string }[];
        opset: number;
      };
      featureSpec: Json;
      referenceProfile: string;
      referenceRows: number;
    };
    expect(body.inspection.inputs).toEqual([
      expect.objectContaining({ name: 'input', type: 'float32', shape: ['batch_size', 3] }),
    ]);
    expect(body.inspection.outputs[0]!.name).toBe('logits');
    expect(body.featureSpec).toEqual({
      inputs: [{ kind: 'tabular', input: 'input', columns: ['temp', 'humidity', 'pressure'] }],
      outputs: [{ kind: 'classifier', output: 'logits', scores: 'logits' }],
    });
    expect(body.referenceRows).toBe(300);
    const profile = decodeProfile(
      JSON.parse(await text(api.services.artifacts.read(body.referenceProfile))),
    );
    expect(profile.ok && profile.value.names).toEqual([
      'input.humidity',
      'input.pressure',
      'input.temp',
    ]);
  });

  it('numbers versions automatically when none is given, and refuses to overwrite one (409)', async () => {
    const a = await push('auto', {}, { model: [model, 'm.onnx'] });
    expect(((await a.json()) as Json).version).toBe('1');
    const b = await push('auto', {}, { model: [model, 'm.onnx'] });
    expect(((await b.json()) as Json).version).toBe('2');
    const again = await push('auto', { version: '2' }, { model: [model, 'm.onnx'] });
    expect(again.status).toBe(409);
  });

  it('answers 422 EF_INVALID_MODEL for a corrupt file and 400 for a form without a model', async () => {
    const bad = await push('broken', { version: '1' }, { model: ['this is not onnx', 'x.onnx'] });
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ error: { code: 'EF_INVALID_MODEL' } });
    const none = await push('broken', { version: '1' }, {});
    expect(none.status).toBe(400);
    const badMeta = await push(
      'broken',
      { version: '1', metadata: '{"nope":1}' },
      { model: [model, 'm.onnx'] },
    );
    expect(badMeta.status).toBe(400);
    const badName = await push('Bad_Name', {}, { model: [model, 'm.onnx'] });
    expect(badName.status).toBe(400);
  });

  it('refuses a feature spec that names an input the model does not have', async () => {
    const spec = { inputs: [{ kind: 'tabular', input: 'nope', columns: ['a'] }], outputs: [] };
    const r = await push(
      'specced',
      { featureSpec: JSON.stringify(spec) },
      { model: [model, 'm.onnx'] },
    );
    expect(r.status).toBe(400);
  });
});

describe('releases', () => {
  it('signs a release that verifies against the trust root, with a health-check sample that matches the model', async () => {
    const r = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'sensor', version: '1', hardwareClasses: ['rpi5'], expiresIn: '30d' },
    });
    expect(r.status, await r.clone().text()).toBe(201);
    const body = (await r.json()) as {
      releaseId: string;
      releaseCounter: number;
      document: { signed: Json & { files: Record<string, { sha256: string }> } };
    };
    expect(body.releaseCounter).toBe(1);
    const state = initTrustState(new TextEncoder().encode(api.services.keyring.currentRoot().text));
    if (!state.ok) throw new Error(state.message);
    const stored = await api.call('GET', `/v1/releases/${encodeURIComponent(body.releaseId)}`, {
      token: api.adminToken,
    });
    const envelopeText = JSON.stringify(((await stored.json()) as { document: unknown }).document);
    const verified = verifyRelease(state.value, new TextEncoder().encode(envelopeText), Date.now());
    expect(verified.ok, verified.ok ? '' : verified.message).toBe(true);
    const signed = body.document.signed;
    expect(Object.keys(signed.files).sort()).toEqual([
      'health-check.json',
      'model.onnx',
      'reference-profile.json',
    ]);
    expect(signed.compat).toMatchObject({ hardwareClasses: ['rpi5'], opset: 17 });
    const sample = HealthCheckSampleSchema.parse(
      JSON.parse(
        await text(api.services.artifacts.read(signed.files['health-check.json']!.sha256)),
      ),
    );
    const feeds = Object.fromEntries(
      Object.entries(sample.inputs).map(([k, t]) => [
        k,
        { dims: t.dims, data: t.data.map(Number) },
      ]),
    );
    const out = await runModelOnce(model, feeds);
    expect(compareHealthCheck(sample.expected, out as never, { atol: 1e-4, rtol: 1e-3 }).ok).toBe(
      true,
    );
  });

  it('gives each release of a model a higher counter', async () => {
    const a = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'auto', version: '1' },
    });
    const b = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'auto', version: '2' },
    });
    const c = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'auto', version: '1' },
    });
    const counters = await Promise.all(
      [a, b, c].map(async (x) => ((await x.json()) as { releaseCounter: number }).releaseCounter),
    );
    expect(counters).toEqual([1, 2, 3]);
  });

  it('rejects bad bodies (400) and unknown versions (404)', async () => {
    const bad = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'sensor' },
    });
    expect(bad.status).toBe(400);
    const unknown = await api.call('POST', '/v1/releases', {
      token: api.adminToken,
      body: { model: 'sensor', version: '9' },
    });
    expect(unknown.status).toBe(404);
  });
});
