/**
 * Typed errors, one class per layer. Translation into HTTP statuses and JSON-RPC codes happens
 * only in the REST and Electrum servers; everything below throws these.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A JSON-RPC error returned by bitcoind, shown as electrs shows it: `<method> RPC error <code>: <message>`. */
export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(
    readonly method: string,
    readonly code: number,
    readonly rpcMessage: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} RPC error ${code}: ${rpcMessage}`, options);
  }
}

/** The node could not be reached (connection refused, reset, timeout, bad HTTP status). */
export class DaemonUnreachableError extends Error {
  override name = "DaemonUnreachableError";
}

/** The on-disk index cannot be used as it is (wrong schema version, other network, corruption). */
export class StoreError extends Error {
  override name = "StoreError";
}

/**
 * A tx whose bytes the index reads from Bitcoin Core's blk files is not there any more (file gone
 * or shorter, or other bytes at its place: the txid does not match), or the files cannot be read.
 * Never answered with other bytes: the index must be rebuilt.
 */
export class BlockFilesChangedError extends StoreError {
  override name = "BlockFilesChangedError";
  constructor(
    readonly fileName: string,
    readonly fileOffset: number,
    readonly txidHex: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the node's block files changed since indexing: tx ${txidHex} is not at ${fileName} offset ${fileOffset} (${detail}). ` +
        "Please reindex (stop, remove the index directory in --db-dir, restart).",
      options,
    );
  }
}

/** Block data is malformed or inconsistent (truncated tx, bad varint, missing prevout). */
export class ParseError extends Error {
  override name = "ParseError";
}

export class ChainError extends Error {
  override name = "ChainError";
}

/** An address that does not parse or is for another network; the message is electrs' REST 400 text. */
export class AddressError extends Error {
  override name = "AddressError";
}
