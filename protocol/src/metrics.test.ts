import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics.js';

describe('metrics registry', () => {
  it('renders counters, gauges and histograms in the Prometheus text format', () => {
    const r = new MetricsRegistry();
    const c = r.counter('ef_messages_total', 'Messages received');
    c.inc({ type: 'status' });
    c.inc({ type: 'status' }, 2);
    r.gauge('ef_devices_online', 'Devices online', () => 7);
    const h = r.histogram('ef_latency_seconds', 'Latency', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    const text = r.render();
    expect(text).toContain('# TYPE ef_messages_total counter');
    expect(text).toContain('ef_messages_total{type="status"} 3');
    expect(text).toContain('ef_devices_online 7');
    expect(text).toContain('ef_latency_seconds_bucket{le="0.1"} 1');
    expect(text).toContain('ef_latency_seconds_bucket{le="1"} 2');
    expect(text).toContain('ef_latency_seconds_bucket{le="+Inf"} 2');
    expect(text).toContain('ef_latency_seconds_count 2');
  });

  it('escapes label values', () => {
    const r = new MetricsRegistry();
    r.counter('x_total', 'x').inc({ reason: 'a"b\\c\nd' });
    expect(r.render()).toContain('x_total{reason="a\\"b\\\\c\\nd"} 1');
  });

  it('refuses to register the same name twice', () => {
    const r = new MetricsRegistry();
    r.counter('dup', 'd');
    expect(() => r.gauge('dup', 'd')).toThrow(/twice/);
  });
});
