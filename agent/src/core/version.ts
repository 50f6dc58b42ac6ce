/** The agent's version, reported in `state` (kept equal to agent/package.json). */
export const AGENT_VERSION = '0.1.0';
