import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fail, fileError } from '../core/errors.js';

export const TOKEN_ENV = 'TWEEDIE_TOKEN';

/** The API token: --token-file (its first line) or the environment variable TWEEDIE_TOKEN. */
export function loadToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  let token: string | undefined;
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      fileError('read --token-file', tokenFile, e);
    }
  } else token = env[TOKEN_ENV]?.trim();
  if (!token) fail('USAGE', `the API needs a token: set ${TOKEN_ENV} or give --token-file FILE (its first line; e.g. openssl rand -hex 32 > FILE)`);
  if (token!.length < 16) fail('USAGE', `the API token is ${token!.length} characters; use at least 16 (e.g. openssl rand -hex 32)`);
  return token!;
}

/** A check of "Authorization: Bearer TOKEN" that takes the same time whatever the header holds (digests of equal length). */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const want = createHash('sha256').update(token).digest();
  return (header) => {
    const m = /^Bearer (.+)$/.exec(header ?? '');
    const got = createHash('sha256').update(m ? m[1]! : '').digest();
    return timingSafeEqual(got, want) && m !== null;
  };
}
