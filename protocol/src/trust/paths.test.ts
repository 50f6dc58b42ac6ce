import { describe, expect, it } from 'vitest';
import { checkFilePath, checkOfferedFiles, MAX_FILE_PATH_LENGTH } from './paths.js';

describe('checkFilePath', () => {
  it.each([
    'model.onnx',
    'reference-profile.json',
    '..model',
    'a..b',
    '.hidden',
    'ü.bin',
    'x'.repeat(MAX_FILE_PATH_LENGTH),
  ])('accepts the plain name %j', (path) => {
    expect(checkFilePath(path)).toEqual({ ok: true, value: path });
  });

  it.each([
    ['empty', ''],
    ['a parent reference', '..'],
    ['the current directory', '.'],
    ['a traversal', '../x'],
    ['an absolute path', '/x'],
    ['a nested path', 'a/b'],
    ['a backslash', 'a\\b'],
    ['a Windows traversal', '..\\x'],
    ['NUL', 'model.onnx\u0000.txt'],
    ['a newline', 'model\n.onnx'],
    ['DEL', 'model\u007f'],
    ['too long', 'x'.repeat(MAX_FILE_PATH_LENGTH + 1)],
  ])('refuses %s with EF_PATH_INVALID', (_what, path) => {
    expect(checkFilePath(path)).toMatchObject({ ok: false, code: 'EF_PATH_INVALID' });
  });
});

describe('checkOfferedFiles', () => {
  const release = { files: { 'model.onnx': {}, 'sample.json': {} } };

  it('accepts files the release lists', () => {
    expect(checkOfferedFiles(release, ['sample.json', 'model.onnx']).ok).toBe(true);
  });

  it('refuses a file the release does not list', () => {
    expect(checkOfferedFiles(release, ['model.onnx', 'extra.bin'])).toMatchObject({
      ok: false,
      code: 'EF_EXTRANEOUS_FILE',
      details: { path: 'extra.bin' },
    });
  });

  it('refuses a bad name before looking it up', () => {
    expect(checkOfferedFiles(release, ['../model.onnx'])).toMatchObject({
      code: 'EF_PATH_INVALID',
    });
  });

  it('does not take prototype members for listed files', () => {
    expect(checkOfferedFiles(release, ['constructor'])).toMatchObject({
      code: 'EF_EXTRANEOUS_FILE',
    });
  });
});
