// The engine's build errors, made in one place so every message names the action (as the user
// sees it, `showAction`) and says what to do. Pure: the engine decides what to record or stop.

import { BuildError, type Action, type BuildDescription } from './engine-types.ts';
import type { Failure } from './protocol.ts';
import type { ActionState } from './engine-state.ts';
import { showAction } from './engine-trace.ts';

/** A source that is missing and that no rule makes. */
export function missingInput(desc: BuildDescription, key: string, from: ActionState | undefined): BuildError {
  const by = from ? `, needed by '${desc.show(from.action.outputs[0] ?? from.action.answers ?? from.action.id)}'` : '';
  return new BuildError({
    code: 'missing-input',
    message: `'${desc.show(key)}'${by}, missing and no known rule to make it`,
    hint: 'check the file name, or add a rule that produces it',
  });
}

/**
 * `a` is not built because something it depends on failed. A cycle stays a cycle. The cause,
 * when it was not yet counted (it reached `a` before its own failure was reported), goes to
 * `errors` once.
 */
export function dependencyFailed(desc: BuildDescription, errors: Failure[], a: Action, e: unknown): BuildError {
  if (e instanceof BuildError && e.failure.code === 'cycle') return e;
  const f: Failure = e instanceof BuildError ? e.failure : { code: (e as { code?: string }).code ?? 'error', message: e instanceof Error ? e.message : String(e) };
  if (e instanceof BuildError && !e.counted && !errors.some((x) => x.message === f.message)) errors.push(f);
  return new BuildError({ code: 'dependency-failed', message: `${showAction(desc, a)} not built: ${f.message}`, where: f.where ?? '' }, true);
}

/** The failure of an action's own prepare step (a bad dyndep file), where the error says it. */
export function prepareFailure(desc: BuildDescription, a: Action, e: unknown): Failure {
  const x = e as { code?: unknown; where?: unknown };
  return {
    code: typeof x.code === 'string' ? x.code : 'prepare', message: e instanceof Error ? e.message : String(e),
    where: typeof x.where === 'string' ? x.where : showAction(desc, a),
  };
}
