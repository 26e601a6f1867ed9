/**
 * Errors of the query layer. They carry a kind, never a protocol status: the REST server
 * (rest/errors.ts) and the Electrum server each translate the kinds in one place.
 */
export type QueryErrorKind =
  /** The request is well formed but asks for something impossible (a start index past the end). */
  | "invalid"
  /** A paging cursor (after_txid, after) that is not where the caller says it is. */
  | "cursor-not-found"
  /** The answer would be larger than the configured limit (electrs' TooPopular). */
  | "too-large"
  /** The answer would be more bytes than a protocol reply may be (Electrum's response size limit). */
  | "response-too-large";

export class QueryError extends Error {
  override name = "QueryError";
  constructor(
    readonly kind: QueryErrorKind,
    message: string,
  ) {
    super(message);
  }
}
