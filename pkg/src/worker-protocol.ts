/**
 * The messages between `edgerec/worker` (main thread) and `worker-entry` (the worker): a small
 * request/response protocol with ids, plus events and load progress pushed by the worker.
 * Internal: shared by `worker.ts` and `worker-entry.ts`, not part of the public API.
 *
 * @internal
 * @module
 */
import { EdgerecError, type Backend, type BundleProgress, type ErrorCode, type Recommender, type RestoreReport, type SyncStatus } from './index.js';

/** Marks edgerec's messages, so a worker of your own may carry other messages too. @internal */
export const TAG = 'edgerec/worker@1' as const;

/** A snapshot of the getters of the worker's `Recommender`, sent with every reply and event. */
export interface WorkerRecommenderState {
  /** {@link Recommender.backend}: the backend scoring ran on at the last call. */
  backend: Backend;
  /** {@link Recommender.backendReason}. */
  backendReason: string;
  /** {@link Recommender.modelVersion}: the `model.version` of the bundle in use. */
  modelVersion: string;
  /** {@link Recommender.restoreReport}: what was restored at creation, and where state is kept. */
  restoreReport: RestoreReport;
  /** {@link Recommender.syncStatus} (undefined without `sync`). */
  syncStatus: SyncStatus | undefined;
}

/** An error as it crosses threads (`Error`s lose their own properties in structured clone). @internal */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

/** main → worker: call `method` with `args`. @internal */
export interface WorkerRequest {
  tag: typeof TAG;
  id: number;
  method: string;
  args: unknown[];
}

/** worker → main. @internal */
export type WorkerMessage =
  | { tag: typeof TAG; id: number; ok: true; value: unknown; state?: WorkerRecommenderState }
  | { tag: typeof TAG; id: number; ok: false; error: SerializedError; state?: WorkerRecommenderState }
  | { tag: typeof TAG; id: number; progress: BundleProgress }
  | { tag: typeof TAG; event: string; value: unknown; state?: WorkerRecommenderState };

/** @internal */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined, stack: e.stack };
  }
  return { name: 'Error', message: String(e) };
}

/** An error from the worker, rebuilt: an `EdgerecError` with the same `code` and message. @internal */
export function toError(e: SerializedError): Error {
  if (e.name === 'EdgerecError' && typeof e.code === 'string') return new EdgerecError(e.code as ErrorCode, e.message);
  const error = new Error(e.message);
  error.name = e.name;
  if (e.code !== undefined) (error as Error & { code?: string }).code = e.code;
  return error;
}
