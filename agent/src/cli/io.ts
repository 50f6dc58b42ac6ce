/** What a command may touch of its surroundings (injected, so commands run in-process in tests). */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** A line (or lines) for stdout. */
  out(text: string): void;
  /** A line (or lines) for stderr. */
  err(text: string): void;
}

export const processIo: CliIo = {
  env: process.env,
  cwd: process.cwd(),
  out: (text) => {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  err: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};
