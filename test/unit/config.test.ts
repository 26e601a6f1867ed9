import { describe, expect, test } from "bun:test";
import {
  defaultServeWorkers,
  ignoredFlagWarning,
  formatAddr,
  formatConfig,
  helpText,
  optionTable,
  parseConfig,
  parseSocketAddr,
  type Config,
} from "../../src/config.ts";
import { ConfigError } from "../../src/errors.ts";
import { NAME, VERSION } from "../../src/version.ts";

const HOME = "/home/satoshi";

/** Parses and expects a run; env is empty unless given, HOME fixed. */
function run(argv: string[], env: Record<string, string | undefined> = {}): Config {
  const result = parseConfig(argv, env, { home: HOME });
  if (result.kind !== "run") throw new Error(`expected a run, got ${result.kind}`);
  return result.config;
}

/** The ConfigError message parseConfig throws (fails the test if it does not throw one). */
function errorOf(argv: string[], env: Record<string, string | undefined> = {}): string {
  try {
    parseConfig(argv, env, { home: HOME });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(argv)} to fail`);
}

const local = (port: number) => ({ host: "127.0.0.1", port });

// Spec §3.4, copied here on purpose so the test does not trust the code under test.
const PORTS = {
  mainnet: { daemonRpc: 8332, electrum: 50001, http: 3000, monitoring: 4224 },
  testnet: { daemonRpc: 18332, electrum: 60001, http: 3001, monitoring: 14224 },
  regtest: { daemonRpc: 18443, electrum: 60401, http: 3002, monitoring: 24224 },
  signet: { daemonRpc: 38332, electrum: 60601, http: 3003, monitoring: 54224 },
  testnet4: { daemonRpc: 48332, electrum: 40001, http: 3004, monitoring: 44224 },
} as const;

const SUBDIR = { mainnet: "", testnet: "/testnet3", regtest: "/regtest", signet: "/signet", testnet4: "/testnet4" } as const;

describe("defaults", () => {
  test("mainnet with no arguments", () => {
    expect(run([])).toEqual({
      network: "mainnet",
      dbDir: "./db",
      dbPath: "db/mainnet",
      daemonDir: `${HOME}/.bitcoin`,
      blocksDir: `${HOME}/.bitcoin/blocks`,
      magic: null,
      cookie: null,
      cookieFile: `${HOME}/.bitcoin/.cookie`,
      daemonRpcAddr: local(8332),
      daemonRpcFallbackAddr: null,
      daemonParallelism: 4,
      daemonRpcTimeoutMs: 600_000,
      daemonStartupTimeoutMs: 30_000,
      electrumRpcAddr: local(50001),
      electrumTlsAddr: null,
      electrumWsAddr: null,
      electrumWssAddr: null,
      tlsCert: null,
      tlsKey: null,
      electrumPublicHosts: null,
      httpAddr: local(3000),
      httpSocketFile: null,
      electrumSocketFile: null,
      monitoringAddr: local(4224),
      jsonrpcImport: false,
      offline: false,
      initialSyncBatchSize: 250,
      dbCacheMb: 768,
      dbLiveTailRows: 400_000,
      serveWorkers: defaultServeWorkers(),
      zmqAddr: null,
      precacheScripts: null,
      addressSearch: false,
      indexUnspendables: false,
      cors: null,
      serveDuringMempoolSync: false,
      enableMiningRest: false,
      restDefaultBlockLimit: 10,
      restDefaultChainTxsPerPage: 25,
      restDefaultMaxMempoolTxs: 50,
      restDefaultMaxAddressSummaryTxs: 5000,
      restMaxMempoolTxidPageSize: 10_000,
      restMaxMempoolPageSize: 1000,
      mempoolRecentTxsSize: 10,
      mempoolBacklogStatsTtlMs: 10_000,
      utxosLimit: 125_000,
      restTxCacheMb: 32,
      electrumTxsLimit: 125_000,
      electrumMaxResponseBytes: 8_000_000,
      electrumMaxClients: 5000,
      electrumMaxClientsPerIp: 0,
      electrumMaxSubsPerIp: 0,
      electrumSubscriptionLimit: 10_000,
      electrumMaxRequestBytes: 1_000_000,
      electrumConnMaxAgeMs: 0,
      electrumWriteTimeoutMs: 10_000,
      electrumResponseBudgetBytes: 0,
      electrumBanner: `Welcome to electrs-bun ${VERSION}`,
      mainLoopDelayMs: 5000,
      verbosity: 0,
      timestamp: false,
      logFormat: "text",
      tracing: null,
      rpcLogging: null,
      ignoredElectrsFlags: [],
    });
  });

  for (const [network, ports] of Object.entries(PORTS)) {
    test(`${network}: ports, daemon dir subdir, db path`, () => {
      const c = run(["--network", network]);
      const daemonDir = `${HOME}/.bitcoin${SUBDIR[network as keyof typeof SUBDIR]}`;
      expect({
        daemonRpcAddr: c.daemonRpcAddr,
        electrumRpcAddr: c.electrumRpcAddr,
        httpAddr: c.httpAddr,
        monitoringAddr: c.monitoringAddr,
        daemonDir: c.daemonDir,
        blocksDir: c.blocksDir,
        cookieFile: c.cookieFile,
        dbPath: c.dbPath,
      }).toEqual({
        daemonRpcAddr: local(ports.daemonRpc),
        electrumRpcAddr: local(ports.electrum),
        httpAddr: local(ports.http),
        monitoringAddr: local(ports.monitoring),
        daemonDir,
        blocksDir: `${daemonDir}/blocks`,
        cookieFile: `${daemonDir}/.cookie`,
        dbPath: `db/${network}`,
      });
    });
  }

  test("the config is deeply frozen", () => {
    const c = run([]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.httpAddr)).toBe(true);
  });
});

describe("daemon dir", () => {
  test("the network subdir is appended even to an explicit --daemon-dir", () => {
    const c = run(["--network", "testnet", "--daemon-dir", "/srv/btc"]);
    expect([c.daemonDir, c.blocksDir, c.cookieFile]).toEqual(["/srv/btc/testnet3", "/srv/btc/testnet3/blocks", "/srv/btc/testnet3/.cookie"]);
    expect(run(["--daemon-dir", "/srv/btc"]).daemonDir).toBe("/srv/btc");
  });

  test("explicit --blocks-dir and --cookie-file are used as given", () => {
    const c = run(["--network", "regtest", "--daemon-dir", "/d", "--blocks-dir", "/b", "--cookie-file", "/c"]);
    expect([c.daemonDir, c.blocksDir, c.cookieFile]).toEqual(["/d/regtest", "/b", "/c"]);
  });

  test("~ is expanded in paths, from the command line and from env", () => {
    expect(run(["--daemon-dir=~/node"]).daemonDir).toBe(`${HOME}/node`);
    expect(run([], { ELECTRS_DB_DIR: "~/idx" }).dbPath).toBe(`${HOME}/idx/mainnet`);
  });

  test("HOME from env when no home option is given", () => {
    const r = parseConfig([], { HOME: "/root2" });
    expect(r.kind === "run" && r.config.daemonDir).toBe("/root2/.bitcoin");
  });
});

describe("command line forms", () => {
  test("electrsd's exact invocation", () => {
    const argv = [
      "-vvv", "--db-dir", "/tmp/electrsd/db", "--network", "regtest", "--cookie-file", "/tmp/bitcoind/regtest/.cookie",
      "--daemon-rpc-addr", "127.0.0.1:18443", "--jsonrpc-import",
      "--electrum-rpc-addr", "0.0.0.0:40001", "--monitoring-addr", "0.0.0.0:40002", "--http-addr", "0.0.0.0:40003",
    ];
    const c = run(argv);
    expect(c).toMatchObject({
      verbosity: 3,
      network: "regtest",
      dbPath: "/tmp/electrsd/db/regtest",
      cookie: null,
      cookieFile: "/tmp/bitcoind/regtest/.cookie",
      daemonRpcAddr: local(18443),
      jsonrpcImport: true,
      electrumRpcAddr: { host: "0.0.0.0", port: 40001 },
      monitoringAddr: { host: "0.0.0.0", port: 40002 },
      httpAddr: { host: "0.0.0.0", port: 40003 },
    });
  });

  test("--flag=value and --flag value are the same", () => {
    expect(run(["--network=signet", "--utxos-limit=7"])).toEqual(run(["--network", "signet", "--utxos-limit", "7"]));
  });

  test("-v counting: separate, clustered, mixed", () => {
    expect(run(["-v"]).verbosity).toBe(1);
    expect(run(["-vv"]).verbosity).toBe(2);
    expect(run(["-v", "-vv", "-v"]).verbosity).toBe(4);
  });

  test("every value option", () => {
    const c = run([
      "--cookie", "user:pa:ss", "--daemon-parallelism", "8", "--daemon-rpc-timeout", "30", "--zmq-addr", "127.0.0.1:28332",
      "--precache-scripts", "/p.csv", "--address-search", "--index-unspendables", "--cors", "*", "--electrum-txs-limit", "9", "--electrum-max-response-bytes", "20000000",
      "--electrum-max-clients", "100", "--electrum-max-clients-per-ip", "12", "--electrum-max-subs-per-ip", "75000",
      "--electrum-banner", "hello there", "--main-loop-delay", "0", "--timestamp",
      "--electrum-tls-addr", "127.0.0.1:50002", "--electrum-ws-addr", "[::1]:50003", "--electrum-wss-addr", "0.0.0.0:50004",
      "--tls-cert", "~/cert.pem", "--tls-key", "/k.pem",
      "--electrum-public-hosts", '{"a.example": {"tcp_port": 50001, "ssl_port": 50002}, "b.onion": {"tcp_port": 50001}}',
    ]);
    expect(c).toMatchObject({
      cookie: { user: "user" },
      daemonParallelism: 8,
      daemonRpcTimeoutMs: 30_000,
      zmqAddr: local(28332),
      precacheScripts: "/p.csv",
      addressSearch: true,
      indexUnspendables: true,
      cors: "*",
      electrumTxsLimit: 9,
      electrumMaxResponseBytes: 20_000_000,
      electrumMaxClients: 100,
      electrumMaxClientsPerIp: 12,
      electrumMaxSubsPerIp: 75_000,
      electrumBanner: "hello there",
      mainLoopDelayMs: 0,
      timestamp: true,
      electrumTlsAddr: local(50002),
      electrumWsAddr: { host: "::1", port: 50003 },
      electrumWssAddr: { host: "0.0.0.0", port: 50004 },
      tlsCert: `${HOME}/cert.pem`,
      tlsKey: "/k.pem",
      electrumPublicHosts: { "a.example": { tcp_port: 50001, ssl_port: 50002 }, "b.onion": { tcp_port: 50001, ssl_port: null } },
    });
    expect(c.cookie?.password).toBe("pa:ss");
  });

  test("a value that starts with '-' needs the = form", () => {
    expect(run(["--electrum-banner=-- hi --"]).electrumBanner).toBe("-- hi --");
  });
});

describe("addresses", () => {
  const ok: [string, { host: string; port: number }][] = [
    ["127.0.0.1:50001", { host: "127.0.0.1", port: 50001 }],
    ["0.0.0.0:0", { host: "0.0.0.0", port: 0 }],
    ["[::1]:3000", { host: "::1", port: 3000 }],
    ["[::]:65535", { host: "::", port: 65535 }],
    ["localhost:8332", { host: "localhost", port: 8332 }],
    ["bitcoind.internal:8332", { host: "bitcoind.internal", port: 8332 }],
  ];
  for (const [raw, addr] of ok) {
    test(`accepts ${raw}`, () => {
      expect(parseSocketAddr(raw)).toEqual(addr);
      expect(formatAddr(addr)).toBe(raw);
    });
  }

  const bad = ["127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "[127.0.0.1]:80", "300.1.1.1:80", "1.2.3:80", "host:65536", "host:999999", "host:-1", "ho st:80", "host:8o"];
  for (const raw of bad) {
    test(`rejects ${raw}`, () => {
      expect(errorOf(["--http-addr", raw])).toStartWith(`invalid value "${raw}" for --http-addr: expected `);
    });
  }
});

describe("environment", () => {
  test("every kind of option from ELECTRS_* variables", () => {
    const c = run([], {
      ELECTRS_NETWORK: "regtest",
      ELECTRS_DB_DIR: "/var/db",
      ELECTRS_DAEMON_DIR: "/var/btc",
      ELECTRS_JSONRPC_IMPORT: "1",
      ELECTRS_ADDRESS_SEARCH: "true",
      ELECTRS_INDEX_UNSPENDABLES: "no",
      ELECTRS_HTTP_ADDR: "0.0.0.0:0",
      ELECTRS_UTXOS_LIMIT: "42",
      ELECTRS_VERBOSITY: "2",
      ELECTRS_COOKIE: "u:p",
    });
    expect(c).toMatchObject({
      network: "regtest",
      dbPath: "/var/db/regtest",
      daemonDir: "/var/btc/regtest",
      jsonrpcImport: true,
      addressSearch: true,
      indexUnspendables: false,
      httpAddr: { host: "0.0.0.0", port: 0 },
      utxosLimit: 42,
      verbosity: 2,
      monitoringAddr: local(24224), // the default follows the network from env
    });
  });

  test("the command line wins over env, env over the default", () => {
    const env = { ELECTRS_NETWORK: "signet", ELECTRS_UTXOS_LIMIT: "5", ELECTRS_VERBOSITY: "2", ELECTRS_JSONRPC_IMPORT: "0" };
    expect(run(["--network", "testnet", "-v", "--jsonrpc-import"], env)).toMatchObject({
      network: "testnet",
      utxosLimit: 5,
      verbosity: 1,
      jsonrpcImport: true,
    });
  });

  test("an empty variable counts as unset", () => {
    expect(run([], { ELECTRS_NETWORK: "", ELECTRS_CORS: "" })).toMatchObject({ network: "mainnet", cors: null });
  });

  test("electrs' DAEMON_READ_TIMEOUT is honoured after ELECTRS_DAEMON_RPC_TIMEOUT", () => {
    expect(run([], { DAEMON_READ_TIMEOUT: "20" }).daemonRpcTimeoutMs).toBe(20_000);
    expect(run([], { DAEMON_READ_TIMEOUT: "20", ELECTRS_DAEMON_RPC_TIMEOUT: "30" }).daemonRpcTimeoutMs).toBe(30_000);
  });

  test("every table option except --help/--version has an ELECTRS_ variable", () => {
    for (const opt of optionTable()) {
      if (opt.kind === "action") expect(opt.env).toBeNull();
      else expect(opt.env).toMatch(/^ELECTRS_[A-Z_]+$/);
    }
  });

  test("bad env values name the variable", () => {
    expect(errorOf([], { ELECTRS_JSONRPC_IMPORT: "maybe" })).toBe(
      'invalid value "maybe" for ELECTRS_JSONRPC_IMPORT: expected a boolean (1, 0, true, false, yes, no, on, off)',
    );
    expect(errorOf([], { ELECTRS_VERBOSITY: "lots" })).toBe('invalid value "lots" for ELECTRS_VERBOSITY: expected a non-negative integer');
    expect(errorOf([], { ELECTRS_NETWORK: "liquid" })).toStartWith('invalid value "liquid" for ELECTRS_NETWORK: expected one of ');
  });
});

describe("errors: one line naming the problem", () => {
  const cases: [string[], string][] = [
    [["--foo"], "unknown flag --foo (see --help)"],
    [["--foo=1"], "unknown flag --foo (see --help)"],
    [["-x"], "unknown flag -x (see --help)"],
    [["-network", "regtest"], "unknown flag -network (see --help)"],
    [["regtest"], 'unexpected argument "regtest" (see --help)'],
    [["--"], 'unexpected argument "--" (see --help)'],
    [["--network"], "missing value for --network"],
    [["--db-dir", "--network", "regtest"], "missing value for --db-dir"],
    [["--network", "regtest", "--network", "signet"], "--network given more than once"],
    [["--jsonrpc-import=yes"], "--jsonrpc-import takes no value"],
    [["--network", "foo"], 'invalid value "foo" for --network: expected one of mainnet, testnet, testnet4, regtest, signet'],
    [["--utxos-limit", "many"], 'invalid value "many" for --utxos-limit: expected a non-negative integer'],
    [["--utxos-limit", "-1"], 'invalid value "-1" for --utxos-limit: expected a non-negative integer'],
    [["--daemon-parallelism", "-3"], 'invalid value "-3" for --daemon-parallelism: expected a positive integer'],
    [["--main-loop-delay", "-0.5"], 'invalid value "-0.5" for --main-loop-delay: expected a non-negative integer'],
    [["--db-cache-mb", "-1", "--network", "regtest"], 'invalid value "-1" for --db-cache-mb: expected a positive integer'],
    [["--http-addr", "-1"], 'invalid value "-1" for --http-addr: expected HOST:PORT, e.g. 127.0.0.1:50001, 0.0.0.0:0 or [::1]:50001'],
    [["--network", "-v"], "missing value for --network"],
    [["--utxos-limit=-1"], 'invalid value "-1" for --utxos-limit: expected a non-negative integer'],
    [["--utxos-limit=1.5"], 'invalid value "1.5" for --utxos-limit: expected a non-negative integer'],
    [["--daemon-parallelism", "0"], 'invalid value "0" for --daemon-parallelism: expected a positive integer'],
    [["--main-loop-delay", "99999999999999999999"], 'invalid value "99999999999999999999" for --main-loop-delay: expected a non-negative integer'],
    [["--monitoring-addr", "4224"], 'invalid value "4224" for --monitoring-addr: expected HOST:PORT, e.g. 127.0.0.1:50001, 0.0.0.0:0 or [::1]:50001'],
    [["--http-addr", "127.0.0.1:70000"], 'invalid value "127.0.0.1:70000" for --http-addr: expected a port from 0 to 65535 in HOST:PORT, e.g. 127.0.0.1:50001, 0.0.0.0:0 or [::1]:50001'],
    [["--db-dir="], 'invalid value "" for --db-dir: expected a path'],
    [["--electrum-tls-addr", "127.0.0.1:50002"], "--electrum-tls-addr needs --tls-cert and --tls-key"],
    [["--electrum-wss-addr", "127.0.0.1:50004", "--tls-cert", "/c.pem"], "--electrum-wss-addr needs --tls-key"],
    [["--electrum-tls-addr", "127.0.0.1:1", "--electrum-wss-addr", "127.0.0.1:2", "--tls-key", "/k.pem"], "--electrum-tls-addr and --electrum-wss-addr need --tls-cert"],
    [["--tls-cert", "/c.pem"], "--tls-cert is only used with --electrum-tls-addr or --electrum-wss-addr"],
    [["--electrum-public-hosts", "x"], 'invalid value "x" for --electrum-public-hosts: expected a JSON object such as {"example.com": {"tcp_port": 50001, "ssl_port": 50002}}'],
    [["--electrum-public-hosts", '{"h": {"tcp_port": 0}}'], 'invalid value "{"h": {"tcp_port": 0}}" for --electrum-public-hosts: expected ports from 1 to 65535 in a JSON object such as {"example.com": {"tcp_port": 50001, "ssl_port": 50002}}'],
    [["--electrum-public-hosts", '{"h": {"tcp": 1}}'], 'invalid value "{"h": {"tcp": 1}}" for --electrum-public-hosts: expected only tcp_port and ssl_port in a JSON object such as {"example.com": {"tcp_port": 50001, "ssl_port": 50002}}'],
  ];
  for (const [argv, message] of cases) {
    test(`${argv.join(" ")} → ${message}`, () => {
      const got = errorOf(argv);
      expect(got).toBe(message);
      expect(got).not.toContain("\n");
    });
  }

  test("a bad --cookie never echoes the secret", () => {
    expect(errorOf(["--cookie", "no-colon-secret"])).toBe("invalid value for --cookie: expected USER:PASSWORD");
    expect(errorOf([], { ELECTRS_COOKIE: "secret" })).toBe("invalid value for ELECTRS_COOKIE: expected USER:PASSWORD");
  });
});

describe("electrs' own flags", () => {
  test("Electrum RPC logging: electrs' flag and BS-new's, the salt's rotation from the environment", () => {
    const day = 24 * 3600 * 1000;
    expect(run([]).rpcLogging).toBeNull();
    expect(run(["--hide-json-rpc-logging-parameters", "--anonymize-json-rpc-logging-source-ip"]).rpcLogging).toBeNull();
    expect(run(["--electrum-rpc-logging", "full"]).rpcLogging).toEqual({ params: true, anonymizeIp: false, saltRotationMs: day });
    expect(run(["--electrum-rpc-logging=no-params"]).rpcLogging).toEqual({ params: false, anonymizeIp: false, saltRotationMs: day });
    expect(run(["--enable-json-rpc-logging"]).rpcLogging).toEqual({ params: true, anonymizeIp: false, saltRotationMs: day });
    expect(run(["--enable-json-rpc-logging", "--hide-json-rpc-logging-parameters", "--anonymize-json-rpc-logging-source-ip"], { SALT_ROTATION_INTERVAL_SECS: "60" }).rpcLogging)
      .toEqual({ params: false, anonymizeIp: true, saltRotationMs: 60_000 });
    expect(errorOf(["--electrum-rpc-logging", "some"])).toBe('invalid value "some" for --electrum-rpc-logging: expected full or no-params');
    expect(errorOf(["--enable-json-rpc-logging"], { SALT_ROTATION_INTERVAL_SECS: "0" })).toMatch(/SALT_ROTATION_INTERVAL_SECS/);
  });

  test("MP's page sizes", () => {
    const c = run([
      "--rest-default-block-limit", "3", "--rest-default-chain-txs-per-page", "10", "--rest-default-max-mempool-txs", "5",
      "--rest-default-max-address-summary-txs", "100", "--rest-max-mempool-txid-page-size", "7", "--mempool-recent-txs-size", "4",
      "--mempool-backlog-stats-ttl", "0",
    ]);
    expect([c.restDefaultBlockLimit, c.restDefaultChainTxsPerPage, c.restDefaultMaxMempoolTxs, c.restDefaultMaxAddressSummaryTxs, c.restMaxMempoolTxidPageSize, c.mempoolRecentTxsSize, c.mempoolBacklogStatsTtlMs]).toEqual([3, 10, 5, 100, 7, 4, 0]);
    expect(errorOf(["--rest-default-chain-txs-per-page", "0"])).toMatch(/invalid value "0" for --rest-default-chain-txs-per-page/);
  });

  test("electrs' Electrum connection knobs", () => {
    const c = run(["--electrum-rpc-conn-max-age", "3600", "--electrum-rpc-write-timeout", "30", "--electrum-rpc-global-response-budget-bytes", "67108864"]);
    expect([c.electrumConnMaxAgeMs, c.electrumWriteTimeoutMs, c.electrumResponseBudgetBytes]).toEqual([3_600_000, 30_000, 67_108_864]);
    expect(errorOf(["--electrum-rpc-global-response-budget-bytes", "1000"])).toMatch(/must be at least --electrum-max-response-bytes \(8000000\)/);
    expect(errorOf(["--electrum-rpc-write-timeout", "0"])).toMatch(/invalid value "0" for --electrum-rpc-write-timeout/);
  });

  test("electrs' names for our limits set them", () => {
    const c = run(["--electrum-rpc-max-response-num-bytes", "4000000", "--electrum-subscription-limit", "0", "--electrum-rpc-max-request-num-bytes=65536"]);
    expect([c.electrumMaxResponseBytes, c.electrumSubscriptionLimit, c.electrumMaxRequestBytes]).toEqual([4_000_000, 0, 65_536]);
    expect(errorOf(["--electrum-max-response-bytes", "1", "--electrum-rpc-max-response-num-bytes", "2"])).toMatch(/given more than once/);
    expect(errorOf(["--electrum-rpc-max-request-num-bytes", "0"])).toMatch(/invalid value "0" for --electrum-rpc-max-request-num-bytes/);
  });

  test("those without effect here are taken, with their values, and listed for the startup warnings", () => {
    const c = run([
      "--db-block-cache-mb", "1024", "--lightmode", "--electrum-announce", "--initial-sync-compaction",
      "--precache-threads", "20", "--db-block-cache-mb", "2048", "--http-addr", "127.0.0.1:4000",
    ]);
    expect(c.ignoredElectrsFlags).toEqual(["--db-block-cache-mb", "--lightmode", "--electrum-announce", "--initial-sync-compaction", "--precache-threads"]);
    // The value after a flag that takes one is its value, not the next flag: the rest is read as usual.
    expect(c.httpAddr).toEqual({ host: "127.0.0.1", port: 4000 });
    expect(ignoredFlagWarning("--db-block-cache-mb")).toBe("--db-block-cache-mb (an electrs flag) has no effect in electrs-bun: RocksDB tuning, and the index is SQLite here (its memory: --db-cache-mb)");
    expect(ignoredFlagWarning("--precache-threads")).toMatch(/runs on the indexing thread/);
    expect(errorOf(["--db-block-cache-mb"])).toBe("missing value for --db-block-cache-mb");
    expect(errorOf(["--lightmode=1"])).toBe("--lightmode takes no value");
  });

  test("MP's --magic: 8 hex digits (0x allowed), the u32 the file's 4 bytes make little-endian", () => {
    expect(run(["--magic", "dab5bffa"]).magic).toBe(0xdab5bffa);
    expect(run(["--magic=0x0A03CF40"]).magic).toBe(0x0a03cf40);
    expect(errorOf(["--magic", "xyz"])).toBe('invalid value "xyz" for --magic: expected a u32 in hex, e.g. d9b4bef9');
    expect(errorOf(["--magic", "123456789"])).toMatch(/expected a u32 in hex/);
  });

  test("Liquid's flags are refused, saying why", () => {
    expect(errorOf(["--parent-network", "mainnet"])).toBe("--parent-network is not supported: Liquid is not supported");
    expect(errorOf(["--no-such-flag"])).toBe("unknown flag --no-such-flag (see --help)");
  });
});

describe("help and version", () => {
  test("--help and -h return the help text, even next to bad flags", () => {
    for (const argv of [["--help"], ["-h"], ["-vh"], ["--bogus", "--help"], ["--version", "--help"]]) {
      expect(parseConfig(argv, {}, { home: HOME })).toEqual({ kind: "help", text: helpText() });
    }
  });

  test("--version and -V", () => {
    for (const argv of [["--version"], ["-V"], ["-vV"], ["--network", "nope", "--version"]]) {
      expect(parseConfig(argv, {}, { home: HOME })).toEqual({ kind: "version", text: `${NAME} ${VERSION}` });
    }
  });

  test("help lists every flag, its env var and its default", () => {
    const text = helpText();
    for (const opt of optionTable()) {
      if (opt.long) expect(text).toContain(`--${opt.long}`);
      if (opt.short) expect(text).toContain(`-${opt.short}`);
      if (opt.env) expect(text).toContain(opt.env);
    }
    expect(text).toContain("--network <NETWORK>");
    expect(text).toContain("[default: mainnet]");
    expect(text).toContain("[default: ./db]");
    expect(text).toContain("[default: <daemon-dir>/.cookie]");
    expect(text).toContain("[env: ELECTRS_DAEMON_RPC_TIMEOUT, DAEMON_READ_TIMEOUT]");
    for (const flag of [
      "network", "db-dir", "daemon-dir", "blocks-dir", "cookie", "cookie-file", "daemon-rpc-addr", "daemon-parallelism",
      "electrum-rpc-addr", "http-addr", "monitoring-addr", "jsonrpc-import", "zmq-addr", "precache-scripts", "address-search",
      "index-unspendables", "cors", "utxos-limit", "electrum-txs-limit", "electrum-banner", "timestamp", "version", "help",
      "main-loop-delay",
    ]) {
      expect(optionTable().some((o) => o.long === flag)).toBe(true);
    }
  });
});

describe("redaction", () => {
  const c = run(["--cookie", "alice:hunter2", "--network", "regtest", "--electrum-rpc-addr", "[::1]:0"]);

  test("formatConfig shows the user, never the password", () => {
    const line = formatConfig(c);
    expect(line).toContain("cookie=alice:<redacted>");
    expect(line).not.toContain("hunter2");
    expect(line).toContain("network=regtest");
    expect(line).toContain("electrum_rpc_addr=[::1]:0");
    expect(line).toContain(`electrum_banner="Welcome to electrs-bun ${VERSION}"`);
    expect(line).toContain("zmq_addr=none");
    expect(line).not.toContain("\n");
  });

  test("JSON and inspection of the config hide the password too", () => {
    expect(JSON.stringify(c)).not.toContain("hunter2");
    expect(JSON.stringify(c)).toContain('"cookie":"alice:<redacted>"');
    expect(Bun.inspect(c)).not.toContain("hunter2");
    expect(c.cookie?.password).toBe("hunter2");
  });
});

describe("--otlp-tracing and the OTEL_* variables", () => {
  test("off by default, even with the OTLP variables set", () => {
    expect(run([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }).tracing).toBeNull();
  });
  test("on: the OTLP/HTTP default endpoint and the service name electrs-bun", () => {
    expect(run(["--otlp-tracing"]).tracing).toEqual({ tracesUrl: "http://localhost:4318/v1/traces", serviceName: "electrs-bun" });
    expect(run([], { ELECTRS_OTLP_TRACING: "1" }).tracing).not.toBeNull();
  });
  test("the base endpoint gets /v1/traces; the traces endpoint is used as is and wins", () => {
    expect(run(["--otlp-tracing"], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracing?.tracesUrl).toBe("http://collector:4318/v1/traces");
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://b/otlp/traces", OTEL_SERVICE_NAME: "idx-1" };
    expect(run(["--otlp-tracing"], env).tracing).toEqual({ tracesUrl: "https://b/otlp/traces", serviceName: "idx-1" });
  });
  test("OTEL_SDK_DISABLED=true turns it off; empty variables count as unset", () => {
    expect(run(["--otlp-tracing"], { OTEL_SDK_DISABLED: "true" }).tracing).toBeNull();
    expect(run(["--otlp-tracing"], { OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_SERVICE_NAME: "" }).tracing).toEqual({
      tracesUrl: "http://localhost:4318/v1/traces",
      serviceName: "electrs-bun",
    });
  });
  test("credentials in the endpoint never reach the startup line", () => {
    const c = run(["--otlp-tracing"], { OTEL_EXPORTER_OTLP_ENDPOINT: "https://ops:s3cret-token@collector.example:4318" });
    expect(c.tracing?.tracesUrl).toBe("https://ops:s3cret-token@collector.example:4318/v1/traces");
    const line = formatConfig(c);
    expect(line).not.toContain("s3cret-token");
    expect(line).not.toContain("ops:");
    expect(line).toContain("tracing=https://redacted@collector.example:4318/v1/traces,service=electrs-bun");
  });
  test("a bad endpoint is one line naming the variable", () => {
    expect(errorOf(["--otlp-tracing"], { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4318" })).toBe(
      'invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT "collector:4318": expected an http:// or https:// URL',
    );
    expect(errorOf(["--otlp-tracing"], { OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toContain("invalid OTEL_EXPORTER_OTLP_ENDPOINT");
  });
});
