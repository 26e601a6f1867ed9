/**
 * One request line → one reply line (or none): envelopes from jsonrpc.ts, the method table,
 * per-version availability, the batch and response size limits, and the per-method latency.
 */
import type { Logger } from "../log.ts";
import { describeError } from "../log.ts";
import type { HistogramVec } from "../metrics/metrics.ts";
import { errorJson, parseMessage, replyBytes, replyText, resultJson, RPC_CODES, RpcError, toRpcError, type ReplyMessage, type RequestItem } from "./jsonrpc.ts";
import { METHODS, type ServerContext } from "./methods.ts";
import { readAgain, type ReadGuard } from "../query/chain-query.ts";
import { compareVersions, formatVersion, positional } from "./params.ts";
import type { Session } from "./subscriptions.ts";
import type { Span, Tracing } from "../trace/tracing.ts";
import type { RpcLog } from "./rpc-log.ts";
import type { ResponseBudget } from "./connection.ts";

export interface DispatchLimits {
  /** Requests in one batch. */
  readonly maxBatch: number;
  /** Bytes of one reply line (a batch's whole array). */
  readonly maxResponseBytes: number;
}

export class Dispatcher {
  constructor(
    private readonly ctx: ServerContext,
    private readonly limits: DispatchLimits,
    private readonly latency: HistogramVec<"method">,
    private readonly log: Logger,
    private readonly tracing: Tracing,
    /** --electrum-rpc-logging: each request and its answer. */
    private readonly rpcLog: RpcLog | null = null,
    /** A serve worker's: a reading method is run again when the main thread's commit overlapped it. */
    private readonly guard: ReadGuard | null = null,
    /** --electrum-rpc-global-response-budget-bytes: while it is exhausted, requests get an error. */
    private readonly budget: ResponseBudget | null = null,
  ) {}

  /** A reading method's result, read again while the main thread's commits overlap it (chain-query.ts readAgain). */
  private async runGuarded(guard: ReadGuard, call: () => unknown): Promise<unknown> {
    for (let tries = 1; ; tries++) {
      const mark = guard.begin();
      let out: unknown;
      try {
        out = await call();
      } catch (err) {
        if (readAgain(guard, mark, tries)) continue;
        throw err;
      }
      if (!readAgain(guard, mark, tries)) return out;
    }
  }

  /** The reply line (without newline), or null when nothing is to be sent (notifications, blank lines). */
  async handleLine(session: Session, line: string): Promise<ReplyMessage | null> {
    if (line.trim() === "") return null;
    const msg = parseMessage(line);
    if (msg.kind === "invalid") return errorJson(null, msg.error);
    if (msg.kind === "single") {
      const reply = await this.answer(session, msg.item);
      if (reply === null) return null;
      return replyBytes(reply) > this.limits.maxResponseBytes ? errorJson(idOf(msg.item), this.tooLarge()) : reply;
    }
    if (msg.items.length > this.limits.maxBatch) {
      return errorJson(null, new RpcError(RPC_CODES.LIMIT_EXCEEDED, `batch too large: ${msg.items.length} requests, at most ${this.limits.maxBatch}`));
    }
    const parts: string[] = [];
    let bytes = 2;
    for (const item of msg.items) {
      if (session.closeAfterReply) break;
      const answered = await this.answer(session, item);
      if (answered === null) continue;
      // Past the budget, the remaining answers are replaced by small errors, so the array stays complete.
      const size = replyBytes(answered);
      const over = bytes + size + 1 > this.limits.maxResponseBytes;
      const reply = over ? errorJson(idOf(item), this.tooLarge()) : replyText(answered);
      bytes += (over ? Buffer.byteLength(reply) : size) + 1;
      parts.push(reply);
    }
    return parts.length === 0 ? null : `[${parts.join(",")}]`;
  }

  private tooLarge(): RpcError {
    return new RpcError(RPC_CODES.INVALID_REQUEST, `response too large (over ${this.limits.maxResponseBytes} bytes)`);
  }

  private async answer(session: Session, item: RequestItem): Promise<ReplyMessage | null> {
    if (!item.ok) return errorJson(item.id, item.error);
    const req = item.request;
    const spec = METHODS.get(req.method);
    if (!spec) return req.notification ? null : errorJson(req.id, new RpcError(RPC_CODES.METHOD_NOT_FOUND, `unknown method ${JSON.stringify(req.method.slice(0, 100))}`));
    if (compareVersions(session.version, spec.since) < 0) {
      const why = `method ${req.method} is not available at protocol version ${formatVersion(session.version)}`;
      return req.notification ? null : errorJson(req.id, new RpcError(RPC_CODES.METHOD_NOT_FOUND, why));
    }
    if (this.budget?.exhausted) {
      const why = `server busy: answers waiting for slow clients exceed ${this.budget.limitBytes} bytes (--electrum-rpc-global-response-budget-bytes), try again later`;
      return req.notification ? null : errorJson(req.id, new RpcError(RPC_CODES.SERVER_BUSY, why));
    }
    const run = async (span: Span | null): Promise<ReplyMessage> => {
      const stop = this.latency.startTimer({ method: req.method });
      try {
        const call = { ctx: this.ctx, session, args: positional(req.params, spec.params) };
        // (Unguarded, as in the main thread, the method is awaited directly, without the wrapper.)
        const result = this.guard !== null && spec.reads === true ? await this.runGuarded(this.guard, () => spec.run(call)) : await spec.run(call);
        return resultJson(req.id, result);
      } catch (err) {
        const { error, unexpected } = toRpcError(err);
        if (unexpected) this.log.error(`${req.method} failed: ${describeError(err)}`);
        if (span) {
          span.setAttributes({ "rpc.jsonrpc.error_code": error.code });
          span.fail(error);
        }
        return errorJson(req.id, error);
      } finally {
        stop();
      }
    };
    const rpcLog = this.rpcLog;
    const t0 = rpcLog === null ? 0 : performance.now();
    rpcLog?.request(session, req.id, req.method, req.params);
    // A root span per request: a client's requests are not part of any block's trace.
    const reply = this.tracing.enabled
      ? await this.tracing.inSpan(`electrum ${req.method}`, { "rpc.system": "jsonrpc", "rpc.method": req.method }, run, null)
      : await run(null);
    rpcLog?.response(session, req.id, req.method, req.notification ? 0 : replyBytes(reply), (performance.now() - t0) * 1000);
    return req.notification ? null : reply;
  }
}

function idOf(item: RequestItem): string | number | null {
  return item.ok ? item.request.id : item.id;
}
