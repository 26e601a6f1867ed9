/**
 * The REST API's one place where errors become HTTP statuses (electrs' `HttpError` and its `From`
 * impls in rest.rs). Everything a handler or the query layer throws ends here; the body is the
 * message as text/plain, without Cache-Control.
 */
import { AddressError, BlockFilesChangedError, DaemonError, DaemonUnreachableError } from "../errors.ts";
import { describeError, type Logger } from "../log.ts";
import { QueryError } from "../query/errors.ts";

/** An answer other than 200 that a handler chooses (electrs' `HttpError(StatusCode, String)`). */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Core's RPC_IN_WARMUP. */
const RPC_IN_WARMUP = -28;
/** Core's RPC_INVALID_ADDRESS_OR_KEY ("Block not found" from getblock). */
const RPC_INVALID_ADDRESS_OR_KEY = -5;

const QUERY_STATUS: Readonly<Record<QueryError["kind"], number>> = {
  invalid: 400,
  // MP answers an unknown paging cursor with 422 Unprocessable Entity.
  "cursor-not-found": 422,
  // electrs' TooPopular is a plain 400.
  "too-large": 400,
  "response-too-large": 400,
};

export interface ErrorAnswer {
  readonly status: number;
  readonly message: string;
}

/**
 * Status and text for any thrown value. Client mistakes are 4xx with electrs' texts; the node's
 * failures are the node's (400 for a refusal, 503 while it warms up, 504 when unreachable, as
 * BS-new); blk files that changed under the index are a 500 with the reindex hint; anything else is
 * our bug: 500 `Internal server error`. Both 500s are logged with their cause chain.
 */
export function errorAnswer(err: unknown, log: Logger): ErrorAnswer {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (err instanceof QueryError) return { status: QUERY_STATUS[err.kind], message: err.message };
  if (err instanceof AddressError) return { status: 400, message: err.message };
  if (err instanceof DaemonError) {
    if (err.code === RPC_IN_WARMUP) return { status: 503, message: err.message };
    if (err.method === "getblock" && err.code === RPC_INVALID_ADDRESS_OR_KEY) return { status: 404, message: "Block not found" };
    return { status: 400, message: err.message };
  }
  if (err instanceof DaemonUnreachableError) return { status: 504, message: err.message };
  if (err instanceof BlockFilesChangedError) {
    // A 500 that says why and what to do (reindex), never other bytes; logged for the operator.
    log.error(describeError(err));
    return { status: 500, message: err.message };
  }
  log.error(`internal error: ${describeError(err)}`);
  return { status: 500, message: "Internal server error" };
}
