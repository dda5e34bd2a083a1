// Errors a user can see. Shaped like Shake's: a message, the fields that locate it (file:line,
// node, rule), and a hint that says what to do. Expected failures travel as these values;
// anything else reaching the top level is a bug in B and is reported as such.

import type { Failure } from './protocol.ts';

export interface ErrorInfo {
  /** Stable machine-readable code, e.g. "usage", "bfile.syntax", "cache.unwritable". */
  code: string;
  message: string;
  hint?: string;
  /** Where: "Bfile.ts:12:3", "node tcp://build1:7070", "rule %.o" ... */
  where?: string;
  fields?: Record<string, string | number | boolean>;
  /** Process exit code when this error ends the program: 1 build failed, 2 usage/build file. */
  exitCode?: number;
}

export class UserError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly where: string | undefined;
  readonly fields: Record<string, string | number | boolean> | undefined;
  readonly exitCode: number;

  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = 'UserError';
    this.code = info.code;
    this.hint = info.hint;
    this.where = info.where;
    this.fields = info.fields;
    this.exitCode = info.exitCode ?? 2;
  }

  toInfo(): ErrorInfo {
    return {
      code: this.code,
      message: this.message,
      exitCode: this.exitCode,
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
      ...(this.where !== undefined ? { where: this.where } : {}),
      ...(this.fields !== undefined ? { fields: this.fields } : {}),
    };
  }
}

export function usageError(message: string, hint?: string): UserError {
  return new UserError({ code: 'usage', message, exitCode: 2, ...(hint !== undefined ? { hint } : {}) });
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** A failure reported by a broker, worker or remote node, raised where a request awaited it. */
export class RemoteFailure extends Error {
  readonly failure: Failure;

  constructor(failure: Failure) {
    super(failure.message);
    this.failure = failure;
    this.name = 'RemoteFailure';
  }
}
