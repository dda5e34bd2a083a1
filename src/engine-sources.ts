// The engine's answers for source keys (files no action makes, and the special keys a front end
// answers: environment variables, ...): each computed once per build, from the database's
// stat fast path. The values are kept for the no-op snapshot (engine-trace.ts touchedBy).

import type { Database } from './database.ts';
import { absPath, currentState, MISSING } from './filestate.ts';
import type { Answer } from './engine-types.ts';

export class Sources {
  /** Answers computed so far (the same values `promises` holds). */
  readonly values = new Map<string, Answer>();
  private readonly promises = new Map<string, Promise<Answer>>();
  /** Front ends answer keys that are not files (environment variables, ...) through this hook. */
  special: ((key: string) => Answer | undefined) | undefined;
  private readonly db: Database;
  private readonly root: string;

  constructor(db: Database, root: string) {
    this.db = db;
    this.root = root;
  }

  /** The key's answer now (MISSING for a file that does not exist). */
  now(key: string): Answer {
    let a = this.values.get(key);
    if (a === undefined) {
      a = this.compute(key);
      this.values.set(key, a);
    }
    return a;
  }

  /**
   * The key's answer as a promise, one per key; `missing` makes the error a required key that
   * does not exist rejects with (undefined: MISSING is an answer).
   */
  promise(key: string, missing: (() => unknown) | undefined): Promise<Answer> {
    let p = this.promises.get(key);
    if (p === undefined) {
      const known = this.values.get(key);
      p = known !== undefined ? Promise.resolve(known) : Promise.resolve().then(() => this.now(key));
      this.promises.set(key, p);
    }
    if (missing === undefined) return p;
    // A source already known to exist: its promise as it is (no promise and closure per edge
    // that needs it, which a 90k-edge build would hold until each edge runs).
    const known = this.values.get(key);
    if (known !== undefined && known.hash !== MISSING) return p;
    return p.then((a) => {
      if (a.hash !== MISSING) return a;
      throw missing();
    });
  }

  private compute(key: string): Answer {
    const special = this.special?.(key);
    if (special !== undefined) return special;
    const st = currentState(this.db, key, absPath(this.root, key));
    return { key, hash: st ? st.digest : MISSING };
  }
}
