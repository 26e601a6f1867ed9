/**
 * `GET /block-template` with --enable-mining-rest (BS-new): the node's `getblocktemplate`, as it
 * answered. One template is kept for TEMPLATE_TTL_MS and for one tip of the index (a new block
 * makes it stale at once); a failure is kept FAILURE_TTL_MS, so that a node in trouble is not asked
 * once per request; requests that miss together share one call to the node.
 */
import { DaemonError } from "../errors.ts";
import { describeError } from "../log.ts";
import type { RestNode } from "./node.ts";
import type { Reply } from "./route-kit.ts";

export const TEMPLATE_TTL_MS = 15_000;
export const FAILURE_TTL_MS = 1_000;

/** What the node answered: the template's JSON text, or the error it gave. */
type Answer = { readonly ok: true; readonly json: string } | { readonly ok: false; readonly error: unknown };

interface Entry {
  readonly tipKey: string;
  readonly answer: Promise<Answer>;
  /** When the answer came (null while the call is under way: it is shared then). */
  settledAt: number | null;
  ok: boolean;
}

export class BlockTemplates {
  private entry: Entry | null = null;

  constructor(
    private readonly node: RestNode,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The answer for the index's tip `tipKey` (its block hash, any text that changes with it). */
  get(tipKey: string): Promise<Answer> {
    const e = this.entry;
    if (e !== null && e.tipKey === tipKey && !this.stale(e)) return e.answer;
    const entry: Entry = {
      tipKey,
      settledAt: null,
      ok: false,
      answer: this.node.getBlockTemplate().then(
        (template): Answer => ({ ok: true, json: JSON.stringify(template) }),
        (error: unknown): Answer => ({ ok: false, error }),
      ),
    };
    void entry.answer.then((a) => {
      entry.ok = a.ok;
      entry.settledAt = this.now();
    });
    this.entry = entry;
    return entry.answer;
  }

  private stale(e: Entry): boolean {
    if (e.settledAt === null) return false;
    return this.now() - e.settledAt >= (e.ok ? TEMPLATE_TTL_MS : FAILURE_TTL_MS);
  }
}

/**
 * The reply for an answer, never cached by anyone (`no-store`): the template, or a 502 that says
 * what the node said (`{"error":{"code":c,"message":m}}` for its RPC error, its text otherwise).
 */
export function blockTemplateReply(a: Answer): Reply {
  if (a.ok) return { type: "json", body: a.json, cache: "no-store" };
  const err = a.error;
  if (err instanceof DaemonError) {
    return { status: 502, type: "json", body: JSON.stringify({ error: { code: err.code, message: err.rpcMessage } }), cache: "no-store" };
  }
  return { status: 502, type: "text", body: err instanceof Error ? err.message : describeError(err), cache: "no-store" };
}
