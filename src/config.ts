/**
 * Command line and environment → one frozen `Config`. The only module that reads argv or env.
 *
 * Everything derives from the OPTIONS table below (flag, env var, type, default, help, validator):
 * the argv parser, the ELECTRS_* environment variables, the defaults and `--help`. Flags, defaults
 * and default ports are electrs' (spec §3); a bad value fails at startup with one line naming the
 * flag or variable. Precedence: command line, then environment, then default.
 */
import { isIP } from "node:net";
import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { NETWORK_NAMES, NETWORKS, parseNetworkName, type NetworkName, type NetworkParams } from "./bitcoin/network.ts";
import { ConfigError } from "./errors.ts";
import { LOG_FORMATS, type LogFormat } from "./log.ts";
import { displayUrl, type TracingSettings } from "./trace/tracing.ts";
import { NAME, VERSION } from "./version.ts";

// ---------------------------------------------------------------------------------------------
// Public types

export interface SocketAddr {
  /** IP literal or hostname; IPv6 without brackets (as Bun.serve and fetch want it). */
  readonly host: string;
  readonly port: number;
}

/** server.features `hosts`: host → ports (null where that transport is not offered). */
export type ElectrumHosts = Readonly<Record<string, { readonly tcp_port: number | null; readonly ssl_port: number | null }>>;

/** Electrum RPC logging (electrum/rpc-log.ts), from electrs' flags. */
export interface RpcLogSettings {
  /** Requests' params are written (`full`); else null. */
  readonly params: boolean;
  /** The source IP is written as SHA-256(salt ‖ ip). */
  readonly anonymizeIp: boolean;
  /** How often the salt is drawn again, in ms (24 h, or env SALT_ROTATION_INTERVAL_SECS). */
  readonly saltRotationMs: number;
}

const DEFAULT_SALT_ROTATION_S = 24 * 3600;

/** bitcoind RPC credentials from --cookie. JSON and inspection show the user only. */
export interface Auth {
  readonly user: string;
  readonly password: string;
}

export interface Config {
  readonly network: NetworkName;
  /** --db-dir as given. */
  readonly dbDir: string;
  /** Where the index lives: <db-dir>/<network>. */
  readonly dbPath: string;
  /** bitcoind's data directory with the network subdirectory appended (always, as electrs does). */
  readonly daemonDir: string;
  readonly blocksDir: string;
  /** MP's --magic: the blk files' record magic (u32, little-endian as read), in place of the network's; null: the network's. */
  readonly magic: number | null;
  /** Fixed credentials; when null the client reads `cookieFile` on each request. */
  readonly cookie: Auth | null;
  readonly cookieFile: string;
  readonly daemonRpcAddr: SocketAddr;
  /** electrs' --daemon-rpc-fallback-addr: another node, used when the current one cannot be reached (daemon/rpc.ts). */
  readonly daemonRpcFallbackAddr: SocketAddr | null;
  readonly daemonParallelism: number;
  readonly daemonRpcTimeoutMs: number;
  readonly daemonStartupTimeoutMs: number;
  readonly electrumRpcAddr: SocketAddr;
  /** Electrum over TLS (electrs has none); needs tlsCert and tlsKey. */
  readonly electrumTlsAddr: SocketAddr | null;
  /** Electrum over WebSocket, one JSON message per frame (electrs has none). */
  readonly electrumWsAddr: SocketAddr | null;
  /** Electrum over WebSocket with TLS; needs tlsCert and tlsKey. */
  readonly electrumWssAddr: SocketAddr | null;
  /** PEM files for the TLS listeners. */
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  /** server.features `hosts`; null: the bound Electrum ports of the listen address. */
  readonly electrumPublicHosts: ElectrumHosts | null;
  readonly httpAddr: SocketAddr;
  /** REST on a Unix socket instead of httpAddr (electrs' --http-socket-file). */
  readonly httpSocketFile: string | null;
  /** MP's --rpc-socket-file: Electrum RPC on this Unix socket instead of --electrum-rpc-addr. */
  readonly electrumSocketFile: string | null;
  readonly monitoringAddr: SocketAddr;
  readonly jsonrpcImport: boolean;
  /** No node: follow the most-work chain of the blk files in --blocks-dir (electrs-bun only). */
  readonly offline: boolean;
  readonly zmqAddr: SocketAddr | null;
  readonly precacheScripts: string | null;
  readonly addressSearch: boolean;
  readonly indexUnspendables: boolean;
  readonly cors: string | null;
  /** --serve-during-mempool-sync: the servers start before the mempool's first sync (the main loop's first turn does it). */
  readonly serveDuringMempoolSync: boolean;
  /** --enable-mining-rest: GET /block-template answers (rest/block-template.ts); off: 403. */
  readonly enableMiningRest: boolean;
  /** MP's REST page sizes: /blocks, txs pages (block and script), a script's mempool txs, /txs/summary, /mempool/txids/page. */
  readonly restDefaultBlockLimit: number;
  readonly restDefaultChainTxsPerPage: number;
  readonly restDefaultMaxMempoolTxs: number;
  readonly restDefaultMaxAddressSummaryTxs: number;
  readonly restMaxMempoolTxidPageSize: number;
  readonly restMaxMempoolPageSize: number;
  /** MP's: the txs /mempool/recent lists, and how long /mempool's stats are kept. */
  readonly mempoolRecentTxsSize: number;
  readonly mempoolBacklogStatsTtlMs: number;
  readonly utxosLimit: number;
  /** --rest-tx-cache-mb: MiB of rendered JSON of confirmed txs kept for REST (rest/tx-json-cache.ts); 0: none. */
  readonly restTxCacheMb: number;
  readonly electrumTxsLimit: number;
  /** Bytes of one Electrum answer (a batch's whole array) before it becomes a "response too large" error. */
  readonly electrumMaxResponseBytes: number;
  /** Electrum clients connected at once, in all and from one IP address; script hash subscriptions of one IP address (0 = no limit). */
  readonly electrumMaxClients: number;
  readonly electrumMaxClientsPerIp: number;
  readonly electrumMaxSubsPerIp: number;
  /** Script hash subscriptions of one connection (0: no limit), electrs' --electrum-subscription-limit. */
  readonly electrumSubscriptionLimit: number;
  /** electrs' --electrum-rpc-conn-max-age, in ms (0: never) and --electrum-rpc-write-timeout, in ms. */
  readonly electrumConnMaxAgeMs: number;
  readonly electrumWriteTimeoutMs: number;
  /** electrs' --electrum-rpc-global-response-budget-bytes (0: none). */
  readonly electrumResponseBudgetBytes: number;
  /** Longest Electrum request line, electrs' --electrum-rpc-max-request-num-bytes. */
  readonly electrumMaxRequestBytes: number;
  readonly electrumBanner: string;
  readonly mainLoopDelayMs: number;
  /** Electrum RPC logging on stdout, or null (off, the default). */
  readonly rpcLogging: RpcLogSettings | null;
  /** electrs' flags given that have no effect here (ignoredFlagWarning says why), e.g. `--db-block-cache-mb`. */
  readonly ignoredElectrsFlags: readonly string[];
  /** Blocks written per SQLite transaction (also capped at 200k txs), as electrs' BS-new flag. */
  readonly initialSyncBatchSize: number;
  /** --db-cache-mb: MiB of the initial sync's in-memory UTXO table (what does not fit is evicted; their spends are resolved at the end of the load). */
  readonly dbCacheMb: number;
  /** --db-live-tail-rows: rows of the live tail's tables (store/recent.ts) that make a merge due. */
  readonly dbLiveTailRows: number;
  /** --serve-workers: threads serving REST and Electrum (the main thread, which also indexes, is one of them; serve/pool.ts). */
  readonly serveWorkers: number;
  /** Number of -v: 0 info, 1 debug, 2+ trace. */
  readonly verbosity: number;
  readonly timestamp: boolean;
  readonly logFormat: LogFormat;
  /** --otlp-tracing: where spans go (from the standard OTEL_* variables); null when tracing is off. */
  readonly tracing: TracingSettings | null;
}

export type ParseResult =
  | { readonly kind: "run"; readonly config: Config }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version"; readonly text: string };

export interface ParseOptions {
  /** Home directory for the ~/.bitcoin default and ~ expansion; else $HOME, else the OS's. */
  home?: string;
}

// ---------------------------------------------------------------------------------------------
// The option table

/** What a derived default may depend on; filled in table order (network and daemon-dir first). */
interface Ctx {
  readonly home: string;
  readonly network: NetworkParams;
  /** --daemon-dir with the network subdirectory. */
  readonly daemonDir: string;
}

/** A default computed from other options; `text` is what --help shows. */
class Derived<T> {
  constructor(
    readonly text: string,
    readonly compute: (ctx: Ctx) => T,
  ) {}
}

/** --serve-workers' default: one serving thread per core (the kernel's count for this process), at most 8. */
export function defaultServeWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Thrown by validators with what was expected; turned into a ConfigError naming the source. */
class Invalid extends Error {}

/**
 * value: takes an argument. switch: present or not (env: a boolean). count: repeatable, counted
 * (env: a number). action: --help/--version, which stop parsing and have no env var.
 */
type Kind = "value" | "switch" | "count" | "action";

interface OptionSpec<T> {
  readonly long: string | null;
  readonly short: string | null;
  readonly env: string | null;
  /** Extra variables honoured after `env`, e.g. electrs' own DAEMON_READ_TIMEOUT. */
  readonly envAliases: readonly string[];
  /** Other long names (without --) for the same option. */
  readonly aliases?: readonly string[];
  readonly kind: Kind;
  readonly metavar: string;
  readonly help: string;
  readonly default: T | Derived<T>;
  /** Never echo the value (in errors or the startup line). */
  readonly secret: boolean;
  /** Validates one string from argv or env. */
  readonly parse: (raw: string, home: string) => T;
}

interface Extra {
  secret?: boolean;
  envAliases?: readonly string[];
  /** Other long names of the flag (electrs' own name for it). */
  aliases?: readonly string[];
}

const envName = (long: string): string => `ELECTRS_${long.toUpperCase().replaceAll("-", "_")}`;

function value<T>(long: string, metavar: string, parse: OptionSpec<T>["parse"], def: T | Derived<T>, help: string, extra: Extra = {}): OptionSpec<T> {
  return { long, short: null, env: envName(long), envAliases: extra.envAliases ?? [], aliases: extra.aliases ?? [], kind: "value", metavar, help, default: def, secret: extra.secret ?? false, parse };
}

function optional<T>(long: string, metavar: string, parse: OptionSpec<T>["parse"], help: string, extra: Extra = {}): OptionSpec<T | null> {
  return value<T | null>(long, metavar, parse, null, help, extra);
}

function switchOpt(long: string, help: string): OptionSpec<boolean> {
  return { long, short: null, env: envName(long), envAliases: [], kind: "switch", metavar: "", help, default: false, secret: false, parse: parseBool };
}

function action(long: string, short: string, help: string): OptionSpec<boolean> {
  return { long, short, env: null, envAliases: [], kind: "action", metavar: "", help, default: false, secret: false, parse: parseBool };
}

const DEFAULT_OTLP_TRACES_URL = "http://localhost:4318/v1/traces";
/**
 * --utxos-limit and --electrum-txs-limit: Fulcrum's max_history. electrs' 500 refuses the history
 * of any busy wallet (a shop's or an exchange's receiving address); the bytes of an answer are
 * bounded separately (--electrum-max-response-bytes: ~88k history entries at the default).
 */
const DEFAULT_ENTRY_LIMIT = 125_000;

const derived = <T>(text: string, compute: (ctx: Ctx) => T): Derived<T> => new Derived(text, compute);
const local = (port: number): SocketAddr => ({ host: "127.0.0.1", port });

/** Order matters: network and daemonDir come first because later defaults derive from them. */
const OPTIONS = {
  network: value<NetworkName>("network", "NETWORK", parseNetwork, "mainnet", `Bitcoin network: ${NETWORK_NAMES.join(", ")}`),
  daemonDir: value("daemon-dir", "PATH", parsePath, derived("~/.bitcoin", (c) => join(c.home, ".bitcoin")),
    "bitcoind's data directory; the network subdirectory (testnet3, testnet4, regtest, signet) is always appended, as in electrs"),
  dbDir: value("db-dir", "PATH", parsePath, "./db", "Directory for the index, which lives in <db-dir>/<network>"),
  blocksDir: value("blocks-dir", "PATH", parsePath, derived("<daemon-dir>/blocks", (c) => join(c.daemonDir, "blocks")),
    "Directory of bitcoind's blk*.dat files (read during the initial sync)"),
  magic: optional("magic", "HEX", parseMagic,
    "The blk files' record magic, 8 hex digits read as a little-endian u32 (a custom signet's: its message start), in place of the network's (MP's flag)"),
  cookie: optional("cookie", "USER:PASSWORD", parseAuth, "bitcoind RPC credentials; without it the cookie file is read on each request", { secret: true }),
  cookieFile: value("cookie-file", "PATH", parsePath, derived("<daemon-dir>/.cookie", (c) => join(c.daemonDir, ".cookie")),
    "bitcoind's RPC cookie file"),
  daemonRpcAddr: value("daemon-rpc-addr", "ADDR", parseSocketAddr, derived("127.0.0.1:<network's RPC port>", (c) => local(c.network.ports.daemonRpc)),
    "bitcoind JSON-RPC address"),
  daemonRpcFallbackAddr: optional("daemon-rpc-fallback-addr", "ADDR", parseSocketAddr,
    "Another bitcoind, same credentials: when the node requests go to cannot be reached, they go to the other one (checked first to be on the same chain, by its genesis), and stay there until it fails in turn (electrs' flag)"),
  daemonParallelism: value("daemon-parallelism", "N", parsePositiveInt, 4, "Parallel RPC requests for bulk fetches"),
  daemonRpcTimeout: value("daemon-rpc-timeout", "SECS", parsePositiveInt, 600, "Timeout of one bitcoind RPC request, in seconds",
    { envAliases: ["DAEMON_READ_TIMEOUT"] }),
  daemonStartupTimeout: value("daemon-startup-timeout", "SECS", parsePositiveInt, 30,
    "At start, how long a node that refuses connections is retried before giving up (a node warming up is always waited for)"),
  electrumRpcAddr: value("electrum-rpc-addr", "ADDR", parseSocketAddr, derived("127.0.0.1:<network's Electrum port>", (c) => local(c.network.ports.electrum)),
    "Electrum RPC listen address"),
  electrumTlsAddr: optional("electrum-tls-addr", "ADDR", parseSocketAddr, "Electrum RPC over TLS listen address (needs --tls-cert and --tls-key)"),
  electrumWsAddr: optional("electrum-ws-addr", "ADDR", parseSocketAddr, "Electrum RPC over WebSocket listen address (one JSON message per frame)"),
  electrumWssAddr: optional("electrum-wss-addr", "ADDR", parseSocketAddr, "Electrum RPC over WebSocket with TLS listen address (needs --tls-cert and --tls-key)"),
  tlsCert: optional("tls-cert", "PATH", parsePath, "PEM certificate (chain) for the TLS listeners"),
  tlsKey: optional("tls-key", "PATH", parsePath, "PEM private key for the TLS listeners"),
  electrumPublicHosts: optional("electrum-public-hosts", "JSON", parseHosts,
    "server.features `hosts`, as JSON {\"host\": {\"tcp_port\": N, \"ssl_port\": N}}; default: the listen addresses"),
  httpSocketFile: optional("http-socket-file", "PATH", parsePath,
    "Serve the REST API on this Unix socket (mode 0660) instead of --http-addr; a stale socket left by a crash is replaced, one in use is refused"),
  electrumSocketFile: optional("rpc-socket-file", "PATH", parsePath,
    "Serve Electrum RPC on this Unix socket (mode 0660) instead of --electrum-rpc-addr, from the main thread; a stale socket left by a crash is replaced, one in use is refused (MP's flag)"),
  httpAddr: value("http-addr", "ADDR", parseSocketAddr, derived("127.0.0.1:<network's HTTP port>", (c) => local(c.network.ports.http)),
    "Esplora REST listen address"),
  monitoringAddr: value("monitoring-addr", "ADDR", parseSocketAddr, derived("127.0.0.1:<network's monitoring port>", (c) => local(c.network.ports.monitoring)),
    "Prometheus metrics listen address"),
  jsonrpcImport: switchOpt("jsonrpc-import",
    "Fetch blocks over JSON-RPC instead of reading blk*.dat files, also for the initial sync. The index then stores every raw " +
      "transaction (~+330 B/tx), as it does for any block not found in the blk files; without it, on a node host with " +
      "readable blk files, only each tx's location is stored and txs are read from Core's files (checked against the txid: " +
      "a changed file gives an error and a reindex hint)"),
  offline: switchOpt("offline", "No node: index the most-work chain found in the blk*.dat files of --blocks-dir, and follow them as they grow"),
  zmqAddr: optional("zmq-addr", "ADDR", parseSocketAddr, "bitcoind's ZMQ address; new blocks (hashblock) wake the main loop"),
  precacheScripts: optional("precache-scripts", "FILE", parsePath, "File of `type,value` lines (address, scripthash, scriptpubkey) whose stats are computed at startup"),
  addressSearch: switchOpt("address-search", "Index addresses for prefix search (/address-prefix)"),
  indexUnspendables: switchOpt("index-unspendables", "Also index provably unspendable outputs (OP_RETURN) in the history"),
  cors: optional("cors", "ORIGIN", parseText, "Value of the Access-Control-Allow-Origin header on REST responses"),
  restDefaultBlockLimit: value("rest-default-block-limit", "N", parsePositiveInt, 10, "Blocks per /blocks page (MP's flag)"),
  restDefaultChainTxsPerPage: value("rest-default-chain-txs-per-page", "N", parsePositiveInt, 25,
    "Txs per page of /block/:hash/txs (its start must be a multiple of it) and of a script's confirmed history without max_txs (MP's flag; Esplora's front-end pages by 25)"),
  restDefaultMaxMempoolTxs: value("rest-default-max-mempool-txs", "N", parsePositiveInt, 50, "Mempool txs of a script's /txs and /txs/mempool without max_txs (MP's flag)"),
  restDefaultMaxAddressSummaryTxs: value("rest-default-max-address-summary-txs", "N", parsePositiveInt, 5000, "Most entries of /txs/summary, and its default (MP's flag)"),
  restMaxMempoolPageSize: value("rest-max-mempool-page-size", "N", parsePositiveInt, 1000, "Default page of /internal/mempool/txs (MP's flag)"),
  restMaxMempoolTxidPageSize: value("rest-max-mempool-txid-page-size", "N", parsePositiveInt, 10_000, "Default and largest page of /mempool/txids/page (MP's flag)"),
  mempoolRecentTxsSize: value("mempool-recent-txs-size", "N", parsePositiveInt, 10, "Txs that /mempool/recent lists (MP's flag)"),
  mempoolBacklogStatsTtl: value("mempool-backlog-stats-ttl", "SECONDS", parseNonNegativeInt, 10, "How long /mempool's count, vsize, fees and histogram are kept before they are computed again (MP's flag)"),
  serveDuringMempoolSync: switchOpt("serve-during-mempool-sync",
    "Start serving once the index is at the tip, before the mempool's first sync (a big mempool takes a while to read): answers leave the mempool out until it is done, and /health/ready says 503 (BS-new's flag)"),
  enableMiningRest: switchOpt("enable-mining-rest",
    "Serve GET /block-template: the node's getblocktemplate, kept 15 s and until the next block (without it, 403 as in electrs)"),
  restTxCacheMb: value("rest-tx-cache-mb", "MIB", parseNonNegativeInt, 32,
    "Memory for the JSON of confirmed txs that REST answers (/tx/:txid, block tx pages), most recently used kept; emptied on every reorg (0: none); shared out among the --serve-workers threads"),
  utxosLimit: value("utxos-limit", "N", parseNonNegativeInt, DEFAULT_ENTRY_LIMIT,
    "Maximum UTXOs of one script: Electrum listunspent, REST /address/:a/utxo without paging (electrs: 500, too few for a busy wallet; Fulcrum's max_history is 125,000)"),
  electrumTxsLimit: value("electrum-txs-limit", "N", parseNonNegativeInt, DEFAULT_ENTRY_LIMIT,
    "Maximum history transactions of one script over Electrum, confirmed and mempool (0: no limit; electrs: 500); answers are also bounded by --electrum-max-response-bytes"),
  electrumMaxResponseBytes: value("electrum-max-response-bytes", "BYTES", parsePositiveInt, 8_000_000,
    "Largest Electrum answer; a bigger one is an error (ElectrumX's MAX_SEND; a 100k-tx history is ~10 MB). Also accepted as electrs' --electrum-rpc-max-response-num-bytes",
    { aliases: ["electrum-rpc-max-response-num-bytes"] }),
  electrumSubscriptionLimit: value("electrum-subscription-limit", "N", parseNonNegativeInt, 10_000,
    "Most script hash subscriptions of one Electrum connection (0: no limit); one more is answered with a JSON-RPC error (code 4), re-subscribing to one already held is always allowed (electrs' flag)"),
  electrumConnMaxAge: value("electrum-rpc-conn-max-age", "SECONDS", parseNonNegativeInt, 0,
    "Close an Electrum connection after about this long (up to a tenth more, drawn per connection), once its answers are written; 0: never (electrs' flag)"),
  electrumWriteTimeout: value("electrum-rpc-write-timeout", "SECONDS", parsePositiveInt, 10,
    "Close an Electrum client that, with answers waiting for it, takes less than 256 kB of them in this long (electrs' flag, 30 s there; a client letting 10 MB pile up is closed at once)"),
  electrumResponseBudgetBytes: value("electrum-rpc-global-response-budget-bytes", "BYTES", parseNonNegativeInt, 0,
    "Answers and notifications waiting for slow Electrum clients, all connections of a serving thread together, past which requests are answered with an error (code 2) until the clients take their bytes or are dropped; 0: none (electrs' flag, 64 MiB there; here each connection is bounded on its own too). At least --electrum-max-response-bytes"),
  electrumMaxRequestBytes: value("electrum-rpc-max-request-num-bytes", "BYTES", parsePositiveInt, 1_000_000,
    "Longest Electrum request line; a longer one gets an error and a close (electrs' flag; its 0, no limit, is refused: a line must fit in memory)"),
  electrumMaxClients: value("electrum-max-clients", "N", parseNonNegativeInt, 5000,
    "Most Electrum clients connected at once (0: no limit); one more gets a JSON-RPC error (code 4), then a close (ElectrumX's MAX_SESSIONS is 1,000)"),
  electrumMaxClientsPerIp: value("electrum-max-clients-per-ip", "N", parseNonNegativeInt, 0,
    "Most Electrum clients connected at once from one IP address (0: no limit; Fulcrum's max_clients_per_ip is 12, fit for a server not behind a proxy); one more gets a JSON-RPC error (code 4), then a close"),
  electrumMaxSubsPerIp: value("electrum-max-subs-per-ip", "N", parseNonNegativeInt, 0,
    "Most script hash subscriptions of all the Electrum clients of one IP address (0: no limit; Fulcrum's max_subs_per_ip is 75,000); one more is answered with a JSON-RPC error (code 4). Each connection has at most 10,000"),
  electrumBanner: value("electrum-banner", "TEXT", parseText, `Welcome to ${NAME} ${VERSION}`, "Electrum server banner"),
  electrumRpcLogging: optional("electrum-rpc-logging", "MODE", parseRpcLogging,
    "Log every Electrum connection, request and answer as one JSON line on stdout: full (with the requests' params) or no-params (electrs' flag)"),
  enableJsonRpcLogging: switchOpt("enable-json-rpc-logging", "The same, BS-new's way: on, with params unless --hide-json-rpc-logging-parameters"),
  hideJsonRpcLoggingParameters: switchOpt("hide-json-rpc-logging-parameters", "Electrum RPC logging without the requests' params (BS-new's flag)"),
  anonymizeJsonRpcLoggingSourceIp: switchOpt("anonymize-json-rpc-logging-source-ip",
    "Electrum RPC logging names a client's IP as SHA-256(salt ‖ ip), the salt drawn again every 24 h (env SALT_ROTATION_INTERVAL_SECS; BS-new's flag)"),
  initialSyncBatchSize: value("initial-sync-batch-size", "BLOCKS", parsePositiveInt, 250, "Blocks indexed per database transaction (at most 200k txs each); a crash loses at most one batch of work, never data"),
  dbCacheMb: value("db-cache-mb", "MIB", parsePositiveInt, 768, "Memory for the initial sync's table of unspent outputs (like Core's -dbcache); what does not fit is evicted, and the spends of evicted outputs are resolved in sorted passes at the end of the load. Peak RSS is about this plus 400 MiB; it is given back when the sync ends"),
  dbLiveTailRows: value("db-live-tail-rows", "N", parsePositiveInt, 400_000,
    "After the initial sync, new blocks' keys go to small tables that are merged into the big sorted ones between blocks once they hold this many rows (~45 bytes each): fewer means less written per block, more merges"),
  serveWorkers: value("serve-workers", "N", parsePositiveInt, derived("the number of cores, at most 8", () => defaultServeWorkers()),
    "Threads that serve REST and Electrum, each on the same ports (the kernel spreads new connections), reading the same index; the main thread, which also indexes and keeps the mempool, is one of them (1: no other)"),
  mainLoopDelay: value("main-loop-delay", "MS", parseNonNegativeInt, 5000, "Main loop wait between polls of bitcoind, in milliseconds (SIGUSR1 or ZMQ cut it short)"),
  verbosity: {
    long: null, short: "v", env: "ELECTRS_VERBOSITY", envAliases: [], kind: "count", metavar: "", default: 0, secret: false,
    parse: parseNonNegativeInt, help: "More log output: -v debug, -vv trace (repeatable; env: a count)",
  } satisfies OptionSpec<number>,
  timestamp: switchOpt("timestamp", "Prefix log lines with a millisecond timestamp"),
  logFormat: value("log-format", "FORMAT", parseLogFormat, "text" as LogFormat,
    "Log lines as text (LEVEL module: message) or json (one object per line: time, level, module, message, fields) for a log shipper"),
  otlpTracing: switchOpt("otlp-tracing",
    "Export OpenTelemetry traces over OTLP/HTTP (protobuf) to $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces, " +
      `else ${DEFAULT_OTLP_TRACES_URL}; service name $OTEL_SERVICE_NAME, else ${NAME} (electrs' otlp-tracing feature; off by default)`),
  version: action("version", "V", "Print the version and exit"),
  help: action("help", "h", "Print this help and exit"),
};

/**
 * electrs' flags that mean nothing here (BS, MP and BS-new, spec §3), taken so that an electrs
 * command line or unit file starts electrs-bun as it is: each is accepted (with its value when it
 * takes one, which is not read) and named in one warning at startup with the reason below.
 */
const IGNORED_ELECTRS_FLAGS: Readonly<Record<string, { readonly takesValue: boolean; readonly why: string }>> = (() => {
  const rocksdb = "RocksDB tuning, and the index is SQLite here (its memory: --db-cache-mb)";
  const noScan = "a script's stats and UTXOs are range reads of sorted tables here, with no scan to bound";
  const discovery = "peer discovery is not built (server.peers.subscribe answers [])";
  return {
    "db-block-cache-mb": { takesValue: true, why: rocksdb },
    "db-parallelism": { takesValue: true, why: rocksdb },
    "db-write-buffer-size-mb": { takesValue: true, why: rocksdb },
    "cache-index-filter-blocks": { takesValue: false, why: rocksdb },
    "initial-sync-compaction": { takesValue: false, why: "RocksDB compaction, and the initial sync here sorts each table once at its end" },
    lightmode: { takesValue: false, why: "a tx whose bytes Core's blk files hold is never stored here (it is read there), as in electrs' light mode" },
    "precache-threads": { takesValue: true, why: "--precache-scripts runs on the indexing thread" },
    "history-scan-limit": { takesValue: true, why: noScan },
    "utxos-checkpoint-limit": { takesValue: true, why: noScan },
    "electrum-announce": { takesValue: false, why: discovery },
    "tor-proxy": { takesValue: true, why: discovery },
    "daemon-rpc-conn-max-age": { takesValue: true, why: "RPC connections are kept while they work and replaced when they fail" },
    "electrum-checkpoint-proof-concurrency-limit": { takesValue: true, why: "header proofs are answered in turn with every other request" },
  };
})();

/** electrs' flags refused with the reason: Liquid's. */
const REFUSED_ELECTRS_FLAGS: Readonly<Record<string, string>> = {
  "parent-network": "Liquid is not supported",
  "asset-db-path": "Liquid is not supported",
};

/** The startup warning for an electrs flag given that has no effect here (Config.ignoredElectrsFlags). */
export function ignoredFlagWarning(flag: string): string {
  const why = IGNORED_ELECTRS_FLAGS[flag.replace(/^--/, "")]?.why ?? "not used here";
  return `${flag} (an electrs flag) has no effect in ${NAME}: ${why}`;
}

type Key = keyof typeof OPTIONS;
type Values = { [K in Key]: (typeof OPTIONS)[K] extends OptionSpec<infer T> ? T : never };
const KEYS = Object.keys(OPTIONS) as Key[];

/** The table as plain data, for tests (every flag listed in --help, env names). */
export function optionTable(): readonly { long: string | null; short: string | null; env: string | null; kind: Kind }[] {
  return KEYS.map((k) => ({ long: OPTIONS[k].long, short: OPTIONS[k].short, env: OPTIONS[k].env, kind: OPTIONS[k].kind }));
}

// ---------------------------------------------------------------------------------------------
// Validators: return the typed value or throw Invalid(what was expected)

function parseNetwork(raw: string): NetworkName {
  try {
    return parseNetworkName(raw);
  } catch {
    throw new Invalid(`one of ${NETWORK_NAMES.join(", ")}`);
  }
}

/** A leading ~ is expanded because env files and `--flag=~/x` in some shells leave it as is. */
function parsePath(raw: string, home: string): string {
  if (raw === "") throw new Invalid("a path");
  if (raw === "~") return home;
  return raw.startsWith("~/") ? join(home, raw.slice(2)) : raw;
}

function parseText(raw: string): string {
  return raw;
}

const HOSTS_EXPECTED = 'a JSON object such as {"example.com": {"tcp_port": 50001, "ssl_port": 50002}}';

/** --electrum-public-hosts, as electrs' discovery flag: a JSON object of host → {tcp_port, ssl_port}. */
function parseHosts(raw: string): ElectrumHosts {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Invalid(HOSTS_EXPECTED);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json) || Object.keys(json).length === 0) throw new Invalid(HOSTS_EXPECTED);
  const port = (v: unknown): number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) throw new Invalid(`ports from 1 to 65535 in ${HOSTS_EXPECTED}`);
    return v;
  };
  const out: Record<string, { tcp_port: number | null; ssl_port: number | null }> = {};
  for (const [host, ports] of Object.entries(json)) {
    if (ports === null || typeof ports !== "object" || Array.isArray(ports)) throw new Invalid(HOSTS_EXPECTED);
    const p = ports as Record<string, unknown>;
    const extra = Object.keys(p).filter((k) => k !== "tcp_port" && k !== "ssl_port");
    if (extra.length > 0) throw new Invalid(`only tcp_port and ssl_port in ${HOSTS_EXPECTED}`);
    out[host] = { tcp_port: port(p["tcp_port"]), ssl_port: port(p["ssl_port"]) };
  }
  return out;
}

function parseAuth(raw: string): Auth {
  const colon = raw.indexOf(":");
  if (colon <= 0) throw new Invalid("USER:PASSWORD");
  return makeAuth(raw.slice(0, colon), raw.slice(colon + 1));
}

/** The password is not enumerable and JSON/inspect render `user:<redacted>`, so logging a Config cannot leak it. */
function makeAuth(user: string, password: string): Auth {
  const auth = { user } as { user: string; password: string };
  const redacted = `${user}:<redacted>`;
  Object.defineProperties(auth, {
    password: { value: password, enumerable: false },
    toJSON: { value: () => redacted, enumerable: false },
    [Symbol.for("nodejs.util.inspect.custom")]: { value: () => redacted, enumerable: false },
  });
  return auth;
}

const INT_RE = /^\d+$/;

function parseNonNegativeInt(raw: string): number {
  const n = INT_RE.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new Invalid("a non-negative integer");
  return n;
}

function parsePositiveInt(raw: string): number {
  const n = INT_RE.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Invalid("a positive integer");
  return n;
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

/** MP's --magic: a u32 in hex (an optional 0x), as the 4 bytes of the file read little-endian. */
function parseMagic(raw: string): number {
  const hex = raw.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new Invalid("a u32 in hex, e.g. d9b4bef9");
  return parseInt(hex, 16) >>> 0;
}

/** electrs' --electrum-rpc-logging modes. */
function parseRpcLogging(raw: string): "full" | "no-params" {
  if (raw === "full" || raw === "no-params") return raw;
  throw new Invalid("full or no-params");
}

function parseLogFormat(raw: string): LogFormat {
  const f = LOG_FORMATS.find((x) => x === raw);
  if (!f) throw new Invalid(`one of ${LOG_FORMATS.join(", ")}`);
  return f;
}

function parseBool(raw: string): boolean {
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new Invalid("a boolean (1, 0, true, false, yes, no, on, off)");
}

const ADDR_EXPECTED = "HOST:PORT, e.g. 127.0.0.1:50001, 0.0.0.0:0 or [::1]:50001";
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** "host:port", "[v6]:port"; hostnames are allowed (electrs resolves them). Port 0 binds any free port. */
export function parseSocketAddr(raw: string): SocketAddr {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) ?? /^([^:[\]]+):(\d+)$/.exec(raw);
  const host = m?.[1];
  const port = m?.[2];
  if (host === undefined || port === undefined) throw new Invalid(ADDR_EXPECTED);
  if (!validHost(host, raw.startsWith("["))) throw new Invalid(ADDR_EXPECTED);
  const n = Number(port);
  if (port.length > 5 || n > 65535) throw new Invalid(`a port from 0 to 65535 in ${ADDR_EXPECTED}`);
  return { host, port: n };
}

function validHost(host: string, bracketed: boolean): boolean {
  if (bracketed) return isIP(host) === 6;
  // All digits and dots must be a real IPv4 address, not a "hostname" like 300.1.1.1.
  if (/^[\d.]+$/.test(host)) return isIP(host) === 4;
  return HOSTNAME_RE.test(host);
}

/** "127.0.0.1:50001", "[::1]:50001". */
export function formatAddr(addr: SocketAddr): string {
  return isIP(addr.host) === 6 ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

// ---------------------------------------------------------------------------------------------
// argv

interface Hit {
  /** How the user spelled it, for error messages. */
  readonly source: string;
  readonly raw: string | null;
  readonly count: number;
}

const BY_LONG = new Map(
  KEYS.flatMap((k) => {
    const spec: OptionSpec<unknown> = OPTIONS[k];
    return [spec.long, ...(spec.aliases ?? [])].flatMap((name) => (name ? [[name, k] as const] : []));
  }),
);
const BY_SHORT = new Map(KEYS.flatMap((k) => (OPTIONS[k].short ? [[OPTIONS[k].short, k] as const] : [])));

const unknownFlag = (flag: string) => new ConfigError(`unknown flag ${flag} (see --help)`);

/** A following token that looks like a flag is not taken as a value (use --flag=-x for that). */
/** `-3` or `-1.5` is a (bad) value, not a flag: `--daemon-parallelism -3` says the value is invalid. */
const looksLikeFlag = (token: string): boolean => token.length > 1 && token.startsWith("-") && !/^-[0-9.]/.test(token);

function scanArgv(argv: readonly string[], ignored: string[] = []): Map<Key, Hit> {
  const hits = new Map<Key, Hit>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("--") && arg.length > 2) {
      const next = argv[i + 1];
      if (scanLong(arg, next, hits, ignored)) i++;
    } else if (/^-[^-]/.test(arg)) {
      scanShortCluster(arg, hits);
    } else {
      throw new ConfigError(`unexpected argument "${arg}" (see --help)`);
    }
  }
  return hits;
}

/**
 * Records one `--flag`, `--flag=value` or `--flag value` (an electrs flag without effect here in
 * `ignored`); returns whether `next` was consumed.
 */
function scanLong(arg: string, next: string | undefined, hits: Map<Key, Hit>, ignored: string[]): boolean {
  const eq = arg.indexOf("=");
  const flag = eq < 0 ? arg : arg.slice(0, eq);
  const key = BY_LONG.get(flag.slice(2));
  if (key === undefined) return scanElectrsFlag(flag, eq >= 0, next, ignored);
  const spec = OPTIONS[key];
  if (spec.kind !== "value") {
    if (eq >= 0) throw new ConfigError(`${flag} takes no value`);
    bump(hits, key, flag);
    return false;
  }
  if (hits.has(key)) throw new ConfigError(`${flag} given more than once`);
  if (eq >= 0) {
    hits.set(key, { source: flag, raw: arg.slice(eq + 1), count: 1 });
    return false;
  }
  if (next === undefined || looksLikeFlag(next)) throw new ConfigError(`missing value for ${flag}`);
  hits.set(key, { source: flag, raw: next, count: 1 });
  return true;
}

/** An electrs flag of ours (refused, or taken and listed in `ignored`); anything else is unknown. */
function scanElectrsFlag(flag: string, hasInlineValue: boolean, next: string | undefined, ignored: string[]): boolean {
  const name = flag.slice(2);
  const refused = REFUSED_ELECTRS_FLAGS[name];
  if (refused !== undefined) throw new ConfigError(`${flag} is not supported: ${refused}`);
  const spec = IGNORED_ELECTRS_FLAGS[name];
  if (spec === undefined) throw unknownFlag(flag);
  if (!ignored.includes(flag)) ignored.push(flag);
  if (!spec.takesValue) {
    if (hasInlineValue) throw new ConfigError(`${flag} takes no value`);
    return false;
  }
  if (hasInlineValue) return false;
  if (next === undefined || looksLikeFlag(next)) throw new ConfigError(`missing value for ${flag}`);
  return true;
}

/** `-v`, `-vvv`, `-vV`: clusters of single-letter switches, as clap allows. */
function scanShortCluster(arg: string, hits: Map<Key, Hit>): void {
  const keys = [...arg.slice(1)].map((ch) => BY_SHORT.get(ch));
  if (keys.some((k) => k === undefined || OPTIONS[k].kind === "value")) throw unknownFlag(arg);
  for (const key of keys) bump(hits, key!, `-${OPTIONS[key!].short}`);
}

function bump(hits: Map<Key, Hit>, key: Key, source: string): void {
  hits.set(key, { source, raw: null, count: (hits.get(key)?.count ?? 0) + 1 });
}

// ---------------------------------------------------------------------------------------------
// Resolution: argv, then env, then default

type Env = Record<string, string | undefined>;

function parseWith<T>(spec: OptionSpec<T>, raw: string, source: string, home: string): T {
  try {
    return spec.parse(raw, home);
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    const shown = spec.secret ? "" : ` "${raw}"`;
    throw new ConfigError(`invalid value${shown} for ${source}: expected ${err.message}`);
  }
}

/** An empty variable counts as unset, so `ELECTRS_X=` in an env file does not fail validation. */
function fromEnv<T>(spec: OptionSpec<T>, env: Env, home: string): { value: T } | null {
  for (const name of [spec.env, ...spec.envAliases]) {
    const raw = name === null ? undefined : env[name];
    if (name !== null && raw !== undefined && raw !== "") return { value: parseWith(spec, raw, name, home) };
  }
  return null;
}

function resolveOne<T>(spec: OptionSpec<T>, hit: Hit | undefined, env: Env, home: string, ctx: Ctx): T {
  if (hit) {
    if (spec.kind === "count") return hit.count as T;
    if (spec.kind !== "value") return true as T;
    return parseWith(spec, hit.raw ?? "", hit.source, home);
  }
  const fromVar = fromEnv(spec, env, home);
  if (fromVar) return fromVar.value;
  return spec.default instanceof Derived ? spec.default.compute(ctx) : spec.default;
}

function resolveAll(hits: Map<Key, Hit>, env: Env, home: string): Values {
  const known: { network?: NetworkParams; daemonDir?: string } = {};
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`config table order: a default needs ${what} before it is resolved`);
    return v;
  };
  const ctx: Ctx = {
    home,
    get network() { return need(known.network, "network"); },
    get daemonDir() { return need(known.daemonDir, "daemon-dir"); },
  };
  const values: Partial<Record<Key, unknown>> = {};
  for (const key of KEYS) {
    const v = resolveOne<unknown>(OPTIONS[key], hits.get(key), env, home, ctx);
    values[key] = v;
    if (key === "network") known.network = NETWORKS[v as NetworkName];
    if (key === "daemonDir") known.daemonDir = join(v as string, ctx.network.daemonSubdir);
  }
  return values as Values;
}

/**
 * Electrum RPC logging: on with --electrum-rpc-logging (full or no-params) or
 * --enable-json-rpc-logging; the params hidden by no-params or --hide-json-rpc-logging-parameters.
 * The hiding and anonymizing switches alone turn nothing on, as in electrs.
 */
function rpcLoggingSettings(v: Values, env: Env): RpcLogSettings | null {
  if (v.electrumRpcLogging === null && !v.enableJsonRpcLogging) return null;
  const raw = env["SALT_ROTATION_INTERVAL_SECS"];
  let seconds = DEFAULT_SALT_ROTATION_S;
  if (raw !== undefined && raw !== "") {
    if (!/^[0-9]+$/.test(raw) || Number(raw) === 0) throw new ConfigError(`invalid value "${raw}" for SALT_ROTATION_INTERVAL_SECS: expected a positive number of seconds`);
    seconds = Number(raw);
  }
  return {
    params: v.electrumRpcLogging !== "no-params" && !v.hideJsonRpcLoggingParameters,
    anonymizeIp: v.anonymizeJsonRpcLoggingSourceIp,
    saltRotationMs: seconds * 1000,
  };
}

/**
 * The OTLP exporter's endpoint and service name, from the variables every OpenTelemetry SDK reads
 * (the OTLP exporter specification): a signal-specific URL is used as is, the base one gets
 * /v1/traces appended. OTEL_SDK_DISABLED=true turns tracing off whatever the flag says.
 */
function tracingSettings(on: boolean, env: Env): TracingSettings | null {
  const get = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  if (!on || get("OTEL_SDK_DISABLED")?.toLowerCase() === "true") return null;
  const specific = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const base = get("OTEL_EXPORTER_OTLP_ENDPOINT");
  const [name, url] =
    specific !== undefined
      ? ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific]
      : base !== undefined
        ? ["OTEL_EXPORTER_OTLP_ENDPOINT", `${base.replace(/\/+$/, "")}/v1/traces`]
        : ["default", DEFAULT_OTLP_TRACES_URL];
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {}
  if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new ConfigError(`invalid ${name} "${displayUrl(specific ?? base ?? "")}": expected an http:// or https:// URL`);
  }
  return { tracesUrl: url, serviceName: get("OTEL_SERVICE_NAME") ?? NAME };
}

function toConfig(v: Values, env: Env, ignoredElectrsFlags: readonly string[]): Config {
  return deepFreeze({
    network: v.network,
    dbDir: v.dbDir,
    dbPath: join(v.dbDir, v.network),
    daemonDir: join(v.daemonDir, NETWORKS[v.network].daemonSubdir),
    blocksDir: v.blocksDir,
    magic: v.magic,
    cookie: v.cookie,
    cookieFile: v.cookieFile,
    daemonRpcAddr: v.daemonRpcAddr,
    daemonRpcFallbackAddr: v.daemonRpcFallbackAddr,
    daemonParallelism: v.daemonParallelism,
    daemonRpcTimeoutMs: v.daemonRpcTimeout * 1000,
    daemonStartupTimeoutMs: v.daemonStartupTimeout * 1000,
    electrumRpcAddr: v.electrumRpcAddr,
    electrumTlsAddr: v.electrumTlsAddr,
    electrumWsAddr: v.electrumWsAddr,
    electrumWssAddr: v.electrumWssAddr,
    tlsCert: v.tlsCert,
    tlsKey: v.tlsKey,
    electrumPublicHosts: v.electrumPublicHosts,
    httpAddr: v.httpAddr,
    httpSocketFile: v.httpSocketFile,
    electrumSocketFile: v.electrumSocketFile,
    monitoringAddr: v.monitoringAddr,
    jsonrpcImport: v.jsonrpcImport,
    offline: v.offline,
    zmqAddr: v.zmqAddr,
    precacheScripts: v.precacheScripts,
    addressSearch: v.addressSearch,
    indexUnspendables: v.indexUnspendables,
    cors: v.cors,
    serveDuringMempoolSync: v.serveDuringMempoolSync,
    enableMiningRest: v.enableMiningRest,
    restDefaultBlockLimit: v.restDefaultBlockLimit,
    restDefaultChainTxsPerPage: v.restDefaultChainTxsPerPage,
    restDefaultMaxMempoolTxs: v.restDefaultMaxMempoolTxs,
    restDefaultMaxAddressSummaryTxs: v.restDefaultMaxAddressSummaryTxs,
    restMaxMempoolTxidPageSize: v.restMaxMempoolTxidPageSize,
    restMaxMempoolPageSize: v.restMaxMempoolPageSize,
    mempoolRecentTxsSize: v.mempoolRecentTxsSize,
    mempoolBacklogStatsTtlMs: v.mempoolBacklogStatsTtl * 1000,
    utxosLimit: v.utxosLimit,
    restTxCacheMb: v.restTxCacheMb,
    electrumTxsLimit: v.electrumTxsLimit,
    electrumMaxResponseBytes: v.electrumMaxResponseBytes,
    electrumMaxClients: v.electrumMaxClients,
    electrumMaxClientsPerIp: v.electrumMaxClientsPerIp,
    electrumMaxSubsPerIp: v.electrumMaxSubsPerIp,
    electrumSubscriptionLimit: v.electrumSubscriptionLimit,
    electrumMaxRequestBytes: v.electrumMaxRequestBytes,
    electrumResponseBudgetBytes: v.electrumResponseBudgetBytes,
    electrumConnMaxAgeMs: v.electrumConnMaxAge * 1000,
    electrumWriteTimeoutMs: v.electrumWriteTimeout * 1000,
    electrumBanner: v.electrumBanner,
    mainLoopDelayMs: v.mainLoopDelay,
    initialSyncBatchSize: v.initialSyncBatchSize,
    dbCacheMb: v.dbCacheMb,
    dbLiveTailRows: v.dbLiveTailRows,
    serveWorkers: v.serveWorkers,
    verbosity: v.verbosity,
    timestamp: v.timestamp,
    logFormat: v.logFormat,
    tracing: tracingSettings(v.otlpTracing, env),
    rpcLogging: rpcLoggingSettings(v, env),
    ignoredElectrsFlags,
  });
}

function deepFreeze<T>(obj: T): T {
  if (obj !== null && typeof obj === "object" && !Object.isFrozen(obj)) {
    Object.freeze(obj);
    for (const v of Object.values(obj)) deepFreeze(v);
  }
  return obj;
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Parses argv (without the executable and script) and env. --help and --version win over
 * everything else, even over errors elsewhere on the line, so `--bogus --help` still helps.
 * @throws ConfigError with one line naming the flag or variable at fault.
 */
export function parseConfig(argv: readonly string[], env: Env, opts: ParseOptions = {}): ParseResult {
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help", text: helpText() };
  if (argv.includes("--version") || argv.includes("-V")) return { kind: "version", text: versionText() };
  const ignored: string[] = [];
  const hits = scanArgv(argv, ignored);
  // Clusters such as -vh only show up once scanned.
  if (hits.has("help")) return { kind: "help", text: helpText() };
  if (hits.has("version")) return { kind: "version", text: versionText() };
  const home = opts.home ?? env["HOME"] ?? homedir();
  const config = toConfig(resolveAll(hits, env, home), env, ignored);
  checkTls(config);
  if (config.electrumResponseBudgetBytes > 0 && config.electrumResponseBudgetBytes < config.electrumMaxResponseBytes) {
    throw new ConfigError(
      `--electrum-rpc-global-response-budget-bytes (${config.electrumResponseBudgetBytes}) must be at least --electrum-max-response-bytes (${config.electrumMaxResponseBytes}): one answer must fit`,
    );
  }
  return { kind: "run", config };
}

/** The TLS listeners need both PEM files; the files alone, without a TLS listener, are a mistake too. */
function checkTls(c: Config): void {
  const tlsListeners = [c.electrumTlsAddr && "--electrum-tls-addr", c.electrumWssAddr && "--electrum-wss-addr"].filter(Boolean);
  if (tlsListeners.length > 0) {
    const missing = [c.tlsCert === null && "--tls-cert", c.tlsKey === null && "--tls-key"].filter(Boolean);
    if (missing.length > 0) throw new ConfigError(`${tlsListeners.join(" and ")} ${tlsListeners.length > 1 ? "need" : "needs"} ${missing.join(" and ")}`);
  } else if (c.tlsCert !== null || c.tlsKey !== null) {
    throw new ConfigError(`${c.tlsCert !== null ? "--tls-cert" : "--tls-key"} is only used with --electrum-tls-addr or --electrum-wss-addr`);
  }
}

export function versionText(): string {
  return `${NAME} ${VERSION}`;
}

/** --help, generated from the option table. */
export function helpText(): string {
  const rows = KEYS.map((k) => OPTIONS[k]).map((spec) => [flagColumn(spec), helpColumn(spec)] as const);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const pad = " ".repeat(2 + width);
  const lines = rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help.join(`\n${pad}`)}`);
  return [
    `${NAME} ${VERSION}`,
    "Bitcoin indexing server (Electrum RPC, Esplora REST, Prometheus metrics): a drop-in for Blockstream's electrs.",
    "",
    `Usage: ${NAME} [OPTIONS]`,
    "",
    "Options:",
    ...lines,
    "",
    "Every option can also be set through the environment variable shown; the command line wins.",
    "Switch variables take 1/0, true/false, yes/no or on/off; an empty variable counts as unset.",
    "",
    "electrs' flags that have no effect here are accepted (with their value), each named in a warning at startup:",
    ...wrapWords(Object.keys(IGNORED_ELECTRS_FLAGS).map((f) => `--${f}`), 96).map((line) => `  ${line}`),
    `Refused, saying why: ${Object.keys(REFUSED_ELECTRS_FLAGS).map((f) => `--${f}`).join(", ")}.`,
  ].join("\n");
}

/** Words joined by ", " into lines of at most `width` characters. */
function wrapWords(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    const next = line === "" ? w : `${line}, ${w}`;
    if (next.length > width && line !== "") {
      lines.push(`${line},`);
      line = w;
    } else {
      line = next;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

function flagColumn(spec: OptionSpec<unknown>): string {
  const short = spec.short ? `-${spec.short}` : "";
  const long = spec.long ? `--${spec.long}${spec.kind === "value" ? ` <${spec.metavar}>` : ""}` : "";
  return [short, long].filter(Boolean).join(", ");
}

function helpColumn(spec: OptionSpec<unknown>): string[] {
  const def = defaultText(spec.default);
  const envs = [spec.env, ...spec.envAliases].filter((e): e is string => e !== null);
  const notes = [def === null ? "" : `[default: ${def}]`, envs.length ? `[env: ${envs.join(", ")}]` : ""].filter(Boolean);
  return notes.length ? [spec.help, notes.join(" ")] : [spec.help];
}

function defaultText(def: unknown): string | null {
  if (def instanceof Derived) return def.text;
  if (def === null || def === false || def === 0) return null;
  return String(def);
}

/** One line for the startup log, snake_case keys like electrs' config dump; the cookie password never appears. */
export function formatConfig(config: Config): string {
  const parts = Object.entries(config).map(([key, v]) => `${snake(key)}=${formatValue(v)}`);
  return `config: ${parts.join(" ")}`;
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "none";
  if (typeof v === "string") return /^[^\s"'=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v !== "object") return String(v);
  if ("port" in v && "host" in v) return formatAddr(v as SocketAddr);
  if ("user" in v) return `${(v as Auth).user}:<redacted>`;
  if ("tracesUrl" in v) return `${displayUrl((v as TracingSettings).tracesUrl)},service=${(v as TracingSettings).serviceName}`;
  return JSON.stringify(v);
}
