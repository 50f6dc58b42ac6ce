import { describe, expect, it } from 'vitest';
import { SIM_TUNING } from './sim-fleet.js';

describe('SIM_TUNING', () => {
  it('skips the fsyncs of state and spool: simulated devices have no power cut to survive', () => {
    expect(SIM_TUNING).toMatchObject({ durableState: false, durableSpool: false });
  });
});
