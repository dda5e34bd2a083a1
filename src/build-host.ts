// The build engine's home in the process broker: answers NEED requests.
// - `build` from a client (`b build`): loads the build description (Bfile or build.ninja), opens
//   the build database, runs the engine, streams progress as EVENT messages, answers a summary.
// - `need` from a running rule (a worker's client): the keys the rule depends on, answered by the
//   engine running that rule's build, and recorded in the rule's trace.
//
// The database lives here because the broker sees every request: it answers from traces without
// dispatching anything, and de-duplicates questions that several rules ask at once.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { T, encode, type Failure } from './protocol.ts';
import { encodeWork, type WorkItem } from './messages.ts';
import { type BlobRequest, type BuildReply, type BuildRequest, type NeedRequest, type RunRequest, type WireAnswer } from './need-messages.ts';
import type { NodeCacheIo, Upload } from './node-cache-client.ts';
import type { Uploader } from './cache-upload.ts';
import type { FarmEnv } from './bfile-farm.ts';
import type { Broker, ClientState, NeedHandler } from './broker.ts';
import { Engine, BuildError, envName, type BuildDescription, type BuildEvent, type Answer, type EngineHost } from './engine.ts';
import { Database } from './database.ts';
import { digest, digestHex } from './hash.ts';
import { VERSION } from './version.ts';
import { UserError } from './errors.ts';
import { isBfile, loadBfile } from './bfile.ts';
import { absPath, counters, currentState, currentStateAndMode, stillSame } from './filestate.ts';
import { cleanOutputs, deadOutputs } from './dead.ts';
import { lockDb, NESTED } from './lock.ts';
import { findBuildFile } from './buildfile.ts';
import { dropSnapshot, SnapshotFiles, writeSnapshot, type SnapshotCommand } from './fastnoop.ts';
import { cacheEnabled, declaredEnv, runBase } from './action-env.ts';
import { cacheDir } from './cachedir.ts';
import { platform } from './toolchain.ts';
import type { RunHitEnv } from './messages.ts';

export { findBuildFile };

export type { BlobRequest, BuildReply, BuildRequest, NeedRequest, WireAnswer };

export type Loaded = BuildDescription & { notices?: string[]; dbDir: string };

/** Loads the build description for a build file: a Bfile, or else a Ninja manifest. */
async function loadDescription(file: string, req: BuildRequest): Promise<Loaded> {
  if (isBfile(file)) return loadBfile(file, req.dir);
  if (file.endsWith('.ninja')) {
    const { loadNinja } = await import('./ninja-build.ts');
    return loadNinja(path.relative(req.dir, file) || file, req.dir);
  }
  throw new UserError({ code: 'buildfile.kind', message: `do not know how to read ${file}`, hint: 'B reads Bfile.ts/.js/.mjs and Ninja manifests (*.ninja)', exitCode: 2 });
}

/**
 * A Ninja description loads the action cache's code with --cache only (ninja-build.ts): before
 * its first action is made, so before any engine runs.
 */
async function openCache(d: Loaded): Promise<void> {
  await (d as { openCache?: () => Promise<void> }).openCache?.();
}

/** Holds a directory's lock for the length of a build: two builds never share a database. */
function lock(dbDir: string): () => void {
  const l = lockDb(dbDir);
  if (typeof l === 'function') return l;
  // A build started by a command of the build holding the lock would deadlock on it.
  const message = l === NESTED ? `a command of the build in ${path.dirname(dbDir)} started another build of it` : l;
  throw new UserError({ code: 'locked', message, hint: 'wait for the other build to finish, or stop it', exitCode: 1 });
}

export class BuildHost implements NeedHandler {
  private readonly broker: Broker;
  private readonly engines = new Set<Engine>();

  constructor(broker: Broker) {
    this.broker = broker;
  }

  /** Blobs offered to nodes (remote execution inputs): digest -> file on this machine. */
  private readonly offered = new Map<string, string>();
  /**
   * Which blobs each work item was offered (its inputs): a node may read only the inputs of an
   * item it was given, not every blob of the build (it once could, given any item at all).
   */
  private readonly offeredTo = new Map<number, Set<string>>();
  /** The item whose remote payload is being planned now (offer() adds its blobs here). */
  private offering: Set<string> | undefined;
  /** Bytes of blobs sent to nodes and received from them, in the current build. */
  readonly bytes = { sent: 0, received: 0 };

  /** A NEED the broker decoded and allowed for this client (see broker.ts mayAsk). */
  need(client: ClientState, reqId: number, req: BuildRequest | NeedRequest | BlobRequest | RunRequest): void {
    if (req.op === 'need') this.ruleNeed(client, reqId, req);
    else if (req.op === 'blob') this.blob(client, reqId, req);
    else if (req.op === 'run') this.run(client, reqId, req);
    else this.build(client, reqId, req).catch((e: unknown) => this.broker.replyFailure(client, reqId, toFailure(e)));
  }

  /**
   * A node fetching an input of a remote work item: only blobs this build offered are served
   * (never an arbitrary path), in chunks. Asked of a node's own build host, it is forwarded to
   * the client the work came from.
   */
  private blob(client: ClientState, reqId: number, req: BlobRequest): void {
    const file = this.offered.get(req.digest);
    if (file === undefined) {
      if (!this.broker.forwardNeed(client, reqId, req)) {
        this.broker.replyFailure(client, reqId, { code: 'blob.unknown', message: `blob ${req.digest} is not offered by this build` });
      }
      return;
    }
    if (this.offeredTo.get(req.task)?.has(req.digest) !== true) {
      this.broker.replyFailure(client, reqId, { code: 'blob.unknown', message: `blob ${req.digest} is not an input of that work item` });
      return;
    }
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.allocUnsafe(Math.max(0, Math.min(req.length, 1 << 20)));
        const n = fs.readSync(fd, buf, 0, buf.length, req.offset);
        this.bytes.sent += n;
        this.broker.sendTo(client, encode(T.ANSWER, reqId, { data: buf.subarray(0, n).toString('base64') }));
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      this.broker.replyFailure(client, reqId, { code: 'blob.read', message: `cannot read ${file}: ${(e as Error).message}` });
    }
  }

  private ruleNeed(client: ClientState, reqId: number, req: NeedRequest): void {
    for (const e of this.engines) {
      const st = e.actionOfTask(req.task);
      if (st === undefined) continue;
      e.ruleNeed(st, req.keys).then(
        (answers) => this.broker.sendTo(client, encode(T.ANSWER, reqId, { answers: answers.map(wire) })),
        (err: unknown) => {
          e.noteError(err);
          this.broker.replyFailure(client, reqId, toFailure(err));
        },
      );
      return;
    }
    // Not our build: the rule runs here on work from another node; its origin answers.
    if (!this.broker.forwardNeed(client, reqId, req)) {
      this.broker.replyFailure(client, reqId, { code: 'need.unknown-task', message: `no running build owns task ${req.task}` });
    }
  }

  /**
   * A Bfile rule's `run()` as an action (bfile-farm.ts), for the build that owns its task. A rule
   * running here on work from another node is told to run its command itself, where it runs:
   * the command is never sent back to the origin (a node could have it run anything there).
   */
  private run(client: ClientState, reqId: number, req: RunRequest): void {
    for (const e of this.engines) {
      const st = e.actionOfTask(req.task);
      if (st === undefined) continue;
      const env = (e.desc as { remoteEnv?: FarmEnv }).remoteEnv;
      import('./bfile-farm.ts').then(({ runAction, RunFailure }) => runAction(e, st, req, env).catch((err: unknown) => {
        throw err instanceof RunFailure ? new BuildError(err.failure) : err;
      })).then(
        (a) => this.broker.sendTo(client, encode(T.ANSWER, reqId, a)),
        (err: unknown) => this.broker.replyFailure(client, reqId, toFailure(err)),
      );
      return;
    }
    this.broker.replyFailure(client, reqId, { code: 'run.here', message: `no build here owns task ${req.task}: the rule runs its command where it runs` });
  }

  private async build(client: ClientState, reqId: number, req: BuildRequest): Promise<void> {
    const m0 = this.broker.messages();
    this.bytes.sent = 0;
    this.bytes.received = 0;
    const fetch = async (node: string, hex: string, size: number, dest: string): Promise<void> => {
      await this.broker.fetchBlob(node, hex, size, dest);
      this.bytes.received += size;
    };
    const peersUp = this.broker.peers.peers.length > 0;
    const nodeIo = {
      nodes: (tool: string) => this.broker.peers.cacheNodes(tool),
      call: (node: string, work: WorkItem) => this.broker.peers.call(node, work),
      fetch,
    };
    const uploader = peersUp ? await uploaderFor(nodeIo) : undefined;
    const reply = await runBuildRequest(req, {
      engines: this.engines,
      submit: (payload, task, meta, remote) => {
        // The blobs the item's remote payload offers are its own (see offeredTo). The payload
        // may be planned during submitTask (placed at once), before its id is known here.
        let id: number | undefined;
        let early: Set<string> | undefined;
        const bound = remote && ((shared: boolean): Buffer | undefined => {
          const prev = this.offering;
          // Both payloads may be planned (a fenced one, a self-contained one): offers add up.
          const set = (id !== undefined ? this.offeredTo.get(id) : early) ?? new Set<string>();
          this.offering = set;
          try {
            return remote(shared);
          } finally {
            this.offering = prev;
            if (id !== undefined) this.offeredTo.set(id, set);
            else early = set;
          }
        });
        const r = this.broker.submitTask(encodeWork(payload), meta, bound);
        id = r.id;
        if (early !== undefined) this.offeredTo.set(id, early);
        task(id);
        return r.done;
      },
      sink: { events: (batch) => this.broker.sendTo(client, encode(T.EVENT, reqId, batch)) },
      fetch,
      nodes: peersUp,
      ...(peersUp ? { nodeCache: { ...nodeIo, ...(uploader ? { upload: (u: Upload) => uploader.enqueue(u) } : {}) } } : {}),
      offer: (m) => {
        for (const [k, v] of m) {
          this.offered.set(k, v);
          this.offering?.add(k);
        }
      },
    }).finally(async () => {
      // Uploads end with the build (never in flight when the process exits); they add no failure.
      if (uploader) await uploader.drain();
      this.offered.clear();
      this.offeredTo.clear();
    });
    if (uploader) {
      const u = await uploader.drain();
      reply.notices.push(...u.warnings);
      if (u.results > 0) reply.uploaded = { results: u.results, bytes: u.bytes, nodes: u.nodes };
    }
    if (reply.phases !== undefined) {
      const m1 = this.broker.messages();
      reply.messages = { sent: m1.sent - m0.sent, received: m1.received - m0.received };
      reply.bytes = { ...this.bytes };
      reply.workersStarted = this.broker.workersStarted;
    }
    this.broker.sendTo(client, encode(T.ANSWER, reqId, reply));
  }

  stop(): void {
    for (const e of this.engines) e.stop('interrupted');
  }
}

/**
 * Records what a successful build read and wrote, so that the next identical build can see at
 * a glance that it has nothing to do (fastnoop.ts). Skipped when something always runs or a
 * file was changed within its timestamp tick; then says why (for --verbose).
 */
function saveSnapshot(req: BuildRequest, file: string, desc: Loaded, db: Database, engines: Engine[], dead: string[]): string | undefined {
  // The build's engine and the one that checked the manifest first: the generator's inputs
  // (CMakeLists.txt, meson.build) are read only by the latter, and a snapshot without them
  // answered "no work to do" after an edit of meson.build.
  const all = engines.map((e) => e.touched());
  const t = {
    sources: [...new Set(all.flatMap((x) => x.sources))],
    outputs: [...new Set(all.flatMap((x) => x.outputs))],
    env: all.flatMap((x) => x.env),
    always: all.some((x) => x.always),
    everyBuild: [...new Set(all.flatMap((x) => x.everyBuild))],
  };
  if (t.always) return 'a rule always runs';
  let commands: SnapshotCommand[] | undefined;
  if (t.everyBuild.length > 0) {
    const own = desc as { snapshotCommands?: (ids: string[]) => SnapshotCommand[] | string };
    const c = own.snapshotCommands?.(t.everyBuild) ?? `${t.everyBuild[0]!} runs in every build (its output is never written)`;
    if (typeof c === 'string') return c;
    commands = c;
  }
  // A build file with warnings prints them on every load; the fast path would hide them.
  if ((desc.notices?.length ?? 0) > 0) return 'the build file has warnings';
  const files = new SnapshotFiles();
  const now = Date.now();
  for (const k of t.sources) {
    // A source as the build read it. If its stat moved since (a command hard-linked it, which
    // changes its ctime; or it was read within its timestamp tick), the snapshot may still take
    // the stat of now, but only once the content is checked to be what the build read.
    const st = db.getFile(k);
    const abs = absPath(desc.root, k);
    if (st === undefined) {
      // Directories (order-only inputs of CMake's object dirs) are never in the database: they
      // count by existence only, and one the build created is there now.
      const s = fs.statSync(abs, { throwIfNoEntry: false });
      if (s !== undefined && !s.isDirectory()) return `${k} appeared during the build`;
      files.add(abs, s === undefined ? undefined : 0, 0, 0, s?.ino ?? 0);
      continue;
    }
    if (st.digest === '\u0000dir') {
      files.add(abs, st.size, st.mtime, st.ctime, st.ino);
      continue;
    }
    const s = stillSame(st, abs, now);
    if (s === undefined) return `${k} changed during the build, or within its timestamp tick`;
    files.add(abs, s.size, s.mtimeMs, s.ctimeMs, s.ino);
  }
  for (const k of t.outputs) {
    const st = db.getFile(k);
    if (st === undefined) files.add(absPath(desc.root, k), undefined);
    else files.add(absPath(desc.root, k), st.size, st.mtime, st.ctime, st.ino);
  }
  const own = (desc as { files?: string[]; manifest?: { files: string[] }; manifestInputs?: () => string[] });
  for (const f of [...(own.files ?? []), ...(own.manifest?.files ?? []), ...(own.manifestInputs?.() ?? [])]) {
    const abs = absPath(desc.root, f);
    const s = fs.statSync(abs, { throwIfNoEntry: false });
    if (s === undefined) return `${f} is gone`;
    if (now - s.mtimeMs < 2000) return `${f} was written within the last 2 s`;
    files.add(abs, s.size, s.mtimeMs, s.ctimeMs, s.ino);
  }
  try {
    const main = engines[engines.length - 1]!; // the build's own: its counts are what the fast path reports
    const upToDate = main.stats.upToDate + main.stats.ran - (commands?.length ?? 0);
    writeSnapshot(req.dir, { b: VERSION, buildFile: file, targets: req.targets, env: t.env, root: desc.root, upToDate, dead, ...(commands ? { commands } : {}) }, files);
  } catch (e) {
    // Only an optimization: a build that cannot write it still succeeded.
    return `cannot write it: ${(e as Error).message}`;
  }
  return undefined;
}

function envAnswer(key: string, env: Record<string, string>): Answer | undefined {
  const name = envName(key);
  if (name === undefined) return undefined;
  const v = env[name];
  const value = JSON.stringify(v ?? null);
  return { key, hash: digest(value), value };
}

function wire(a: Answer): WireAnswer {
  return { key: a.key, hash: digestHex(a.hash), ...(a.value !== undefined ? { value: a.value } : {}) };
}

export function toFailure(e: unknown): Failure {
  if (e instanceof BuildError) return e.failure;
  if (e instanceof UserError) {
    const f: Failure = { code: e.code, message: e.message };
    if (e.hint) f.hint = e.hint;
    if (e.where) f.where = e.where;
    f.fields = { exitCode: e.exitCode };
    return f;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { code: 'internal', message: err.stack ?? err.message };
}

/** Sends events in batches (one EVENT message per 50 ms or 500 events), not one per rule. */
class EventBatcher {
  private lines: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly send: (batch: string) => void;

  constructor(send: (batch: string) => void) {
    this.send = send;
  }

  push(e: BuildEvent): void {
    this.lines.push(JSON.stringify(e));
    if (this.lines.length >= 500) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), 50);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const batch = this.lines.join('\n');
    this.lines = [];
    this.send(batch);
  }
}

/** Where a build runs its work and sends its events: the broker's, or this thread's (build-local.ts). */
export interface BuildIo {
  /** Engines of running builds (a rule's `need` is answered by the one that owns its task). */
  engines: Set<Engine>;
  submit: EngineHost['submit'];
  /**
   * Where events go, one of the two: batches of NDJSON for a client across a socket, or each
   * event as it happens, as the object itself, for a build in the caller's own thread (no socket
   * to cross: JSON out and back cost ~60 µs an edge, and batching delayed the status).
   */
  sink: { events(batch: string): void } | { event(e: BuildEvent): void };
  fetch: EngineHost['fetch'];
  /** Blobs offered to nodes (remote execution inputs): digest -> file. */
  offer(m: Map<string, string>): void;
  /** The action caches of the nodes this build uses (node-cache-client.ts); absent without nodes. */
  nodeCache?: NodeCacheIo;
  /** Whether the build may use other nodes (a Bfile rule's commands then go through bfile-farm.ts). */
  nodes?: boolean;
  /** The build file as the caller loaded it already (the Ninja personality), instead of reading it again. */
  preloaded?: Loaded;
  /** Every command runs in this process (build-local.ts): no work is placed, so no placement needs its tool. */
  local?: boolean;
}

/**
 * One `build` request from start to reply: loads the build description, holds the directory's
 * lock, opens the database, brings the manifest up to date first (CMake's re-run step), runs the
 * engine, writes the no-op snapshot. Failures of the build are in the reply; what is thrown is
 * a user error (build file, lock) or a bug.
 */
export async function runBuildRequest(req: BuildRequest, io: BuildIo): Promise<BuildReply> {
  const t0 = Date.now();
  const c0 = { ...counters };
  const cacheOn = cacheEnabled();
  const file = findBuildFile(req.dir, req.file);
  const tLoad = Date.now();
  let desc = io.preloaded ?? await loadDescription(file, req);
  await openCache(desc);
  const phases = { load: Date.now() - tLoad, db: 0, build: 0 };
  const unlock = lock(desc.dbDir);
  // The tree is about to change: no later build may take the old snapshot as the truth. (A
  // dry run changes nothing, and leaves it.)
  if (!req.dryRun) dropSnapshot(req.dir);
  const notices = [...(desc.notices ?? [])];
  const tDb = Date.now();
  const opened = Database.open(path.join(desc.dbDir, 'db'), `b ${VERSION}`);
  phases.db = Date.now() - tDb;
  if (opened.reset) notices.push(`build database ${path.join(desc.dbDir, 'db')} was discarded: ${opened.reset}; rebuilding everything`);
  const db = opened.db;
  const remoteEnv = {
    digestOf: (abs: string) => {
      const key = path.relative(req.dir, abs);
      const k = key.startsWith('..') || path.isAbsolute(key) ? abs : key;
      // One stat for the digest and the exec bit (it was two).
      const got = currentStateAndMode(db, k, abs);
      if (got === undefined || got.state.digest.length !== 16) return undefined;
      return { digest: got.state.digest, size: got.state.size, exec: (got.mode & 0o111) !== 0 };
    },
    knownDeps: (action: string) => db.getTrace(action)?.deps[1]?.map((d) => d.key),
    offer: (m: Map<string, string>) => io.offer(m),
    nodeCache: io.nodeCache,
  };
  const sink = io.sink;
  const events = 'event' in sink ? { push: (e: BuildEvent) => sink.event(e), flush: () => {} } : new EventBatcher((batch) => sink.events(batch));
  const makeEngine = (d: BuildDescription): Engine => {
    (d as { remoteEnv?: typeof remoteEnv }).remoteEnv = remoteEnv;
    // With no node to send commands to and no action cache, a rule's run() stays in place (as fast as before).
    (d as { farm?: boolean }).farm = io.nodes === true || cacheOn;
    if (io.local === true && 'placesRemotely' in d) (d as { placesRemotely: boolean }).placesRemotely = false;
    // With the cache, a rule's worker answers its run() hits itself where it can (bfile-hit.ts).
    if (cacheOn && 'runHits' in d) {
      const hd = d as { runHits?: RunHitEnv; commandEvent?: (e: BuildEvent) => void };
      hd.runHits = runHitEnv(d.root, `${process.pid}.${t0}.${++builds}`);
      hd.commandEvent = (ev) => events.push(ev);
    }
    const files = (d as { manifest?: { files: string[] } }).manifest?.files;
    if (files !== undefined) {
      // What the manifest says now, from its files' digests (stat fast path: no re-read).
      const parts: string[] = [];
      for (const f of files) {
        const abs = path.resolve(req.dir, f);
        const rel = path.relative(req.dir, abs);
        parts.push(`${f}\u0000${currentState(db, rel.startsWith('..') ? abs : rel, abs)?.digest ?? ''}`);
      }
      (d as { manifestId?: string }).manifestId = digestHex(digest(parts.join('\u0001')));
    }
    // A console job writes to the terminal as soon as it starts: its status line goes first.
    const submit: EngineHost['submit'] = (payload, task, meta, remote) => {
      if (meta?.remote === false) events.flush();
      return io.submit(payload, task, meta, remote);
    };
    const e = new Engine(d, db, { submit, event: (ev: BuildEvent) => events.push(ev), fetch: io.fetch }, { keepGoing: req.keepGoing, dryRun: req.dryRun, explain: req.explain, ...(req.jobs !== undefined ? { jobs: req.jobs } : {}), ...(req.loadAverage !== undefined ? { loadLimit: req.loadAverage } : {}) });
    e.detailed = req.events;
    e.specialAnswer = (key) => envAnswer(key, req.env);
    return e;
  };
  let reply: BuildReply | undefined;
  const flusher = setInterval(() => db.flush(), 200);
  let engine: Engine | undefined;
  let manifestEngine: Engine | undefined;
  try {
    const total = { ran: 0, upToDate: 0, failed: 0 };
    // A manifest that is itself an output (CMake's re-run step) is brought up to date first;
    // if that rebuilt it, it is read again before the real build, as Ninja does.
    for (let round = 0; round < 10 && !req.dryRun; round++) {
      const key = (desc as { manifestKey?: () => string | undefined }).manifestKey?.();
      if (key === undefined) break;
      engine = makeEngine(desc);
      manifestEngine = engine;
      io.engines.add(engine);
      const s = await engine.build([key]);
      io.engines.delete(engine);
      total.ran += s.ran;
      total.failed += s.failed;
      if (!s.ok) {
        return { ok: false, ...total, upToDate: s.upToDate, errors: s.errors, dead: [], notices, ms: Date.now() - t0, hashed: counters.hashed - c0.hashed, stats: counters.stats - c0.stats };
      }
      if (s.ran === 0) break;
      desc = await loadDescription(file, req);
      await openCache(desc);
    }
    if (req.op === 'clean' || req.op === 'clean-dead') {
      const removed = cleanOutputs(desc, db, req.op === 'clean');
      reply = { ok: true, ran: 0, upToDate: 0, failed: 0, errors: [], dead: removed, notices, ms: Date.now() - t0, hashed: 0, stats: 0 };
    } else {
      engine = makeEngine(desc);
      io.engines.add(engine);
      const tBuild = Date.now();
      const s = await engine.build(req.targets);
      phases.build = Date.now() - tBuild;
      // After a complete build of the defaults, say which outputs of earlier builds are dead.
      const dead = s.ok && req.targets.length === 0 && !req.dryRun ? deadOutputs(desc, db) : [];
      const noSnapshot = !s.ok ? 'the build failed' : req.dryRun ? 'dry run' : saveSnapshot(req, file, desc, db, manifestEngine !== undefined ? [manifestEngine, engine] : [engine], dead);
      reply = {
        ok: s.ok, ran: s.ran + total.ran, upToDate: s.upToDate, failed: s.failed + total.failed, errors: s.errors, dead, notices, ms: Date.now() - t0,
        hashed: counters.hashed - c0.hashed, stats: counters.stats - c0.stats,
      };
      reply.phases = phases;
      if (noSnapshot !== undefined) reply.noSnapshot = noSnapshot;
    }
  } finally {
    clearInterval(flusher);
    if (engine) io.engines.delete(engine);
    events.flush();
    db.close();
    unlock();
  }
  return reply;
}

let builds = 0;

/** The action-cache context a rule's worker needs to key a run() as bfile-farm.ts does. */
function runHitEnv(root: string, build: string): RunHitEnv | undefined {
  let dir: string;
  try {
    dir = path.join(cacheDir(), 'actions');
  } catch {
    return undefined; // no private cache directory: the build host's own lookup says why
  }
  return { dir, base: runBase(path.resolve(root)), env: declaredEnv(), platform: platform(), path: process.env.PATH ?? '', build };
}

/** The build's uploader with `--cache --cache-upload` and nodes (cache-upload.ts), else undefined. */
/** The uploader of a build with `--cache-upload` (loaded only then: most builds never upload). */
async function uploaderFor(io: ConstructorParameters<typeof Uploader>[0]): Promise<Uploader | undefined> {
  if (!cacheEnabled()) return undefined;
  const { Uploader: U, uploadEnabled } = await import('./cache-upload.ts');
  return uploadEnabled() ? new U(io) : undefined;
}
