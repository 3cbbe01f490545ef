/** Error codes shared by every module; the CLI maps them to exit codes and one-line messages. */
export type ErrorCode =
  | 'BAD_SHAPE'
  | 'BAD_CONFIG'
  | 'BAD_INPUT'
  | 'NAN_IN_MODEL'
  | 'UNREADABLE_FILE'
  | 'UNSUPPORTED'
  | 'USAGE'
  | 'ABORTED';

/** The one error class of tweedie: a code plus a message that names the input and the fix. */
export class TweedieError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TweedieError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new TweedieError(code, message);
}

/**
 * A failed file operation as one line, "cannot VERB PATH: REASON" (UNREADABLE_FILE). Node's reason repeats
 * the path ("ENOENT: no such file or directory, open 'PATH'"): only the reason is kept. A TweedieError
 * passes through unchanged.
 */
export function fileError(verb: string, path: string, e: unknown): never {
  if (e instanceof TweedieError) throw e;
  const reason = e instanceof Error ? e.message.replace(/, \w+ '.*'$/s, '') : String(e);
  return fail('UNREADABLE_FILE', `cannot ${verb} ${path}: ${reason}`);
}
