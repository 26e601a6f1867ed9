/**
 * Per-connection protocol state and the subscription registry: script hash and header
 * subscriptions, and the notifications sent after each index/mempool update.
 *
 * Cost of an update: a map script key → subscribed sessions, so an update recomputes one status
 * per touched *subscribed* key (plus, on a new tip, the keys whose last status had a mempool tx
 * with a mempool parent: that parent may have confirmed, turning height -1 into 0 without the
 * block touching the script, §1.7). The number of other subscriptions does not matter.
 */
import type { Logger } from "../log.ts";
import type { CounterVec, GaugeVec } from "../metrics/metrics.ts";
import { QueryError } from "../query/errors.ts";
import { notificationJson, RPC_CODES, RpcError } from "./jsonrpc.ts";
import type { ScriptHashParam, Version } from "./params.ts";
import { LocalIpCounts, type IpCounts } from "../serve/ip-counts.ts";

/** What a session needs from its connection. */
export interface SessionOutput {
  /** Queue one line (without its newline). */
  send(line: string): void;
}

export class Session {
  /** Negotiated version; 1.4 until server.version (a client that never sends it is served as 1.4). */
  version: Version = [1, 4];
  versionSent = false;
  clientName = "";
  /** Set when the reply being built must be the last one (failed negotiation). */
  closeAfterReply = false;
  headersSubscribed = false;
  lastTipHashHex: string | null = null;
  /** keyHex → (scripthash hex as sent → last status sent). */
  readonly subsByKey = new Map<string, Map<string, string | null>>();
  subCount = 0;
  /** Set when the connection is gone (a subscription whose status was still being computed is not registered). */
  dropped = false;

  constructor(
    readonly id: number,
    readonly remote: string,
    readonly out: SessionOutput,
    /** The client's port (null where the transport does not say: WebSocket). */
    readonly remotePort: number | null = null,
  ) {}
}

export interface ScriptStatus {
  readonly status: string | null;
  /** Some mempool tx of the history has a mempool parent (height -1). */
  readonly hasMempoolParent: boolean;
}

export interface TipHeader {
  readonly height: number;
  readonly hashHex: string;
  readonly headerHex: string;
}

/** One index+mempool update, as the main loop reports it. */
export interface ElectrumUpdate {
  /** The tip changed (new blocks or a reorg): header notifications, and -1 → 0 rechecks. */
  readonly newTip?: boolean;
  /** Hex of 11-byte script keys touched by the new blocks and the mempool change. */
  readonly touchedScriptKeysHex: ReadonlySet<string>;
  /** Recheck every subscription (after a reorg whose removed blocks' keys are unknown). */
  readonly recheckAll?: boolean;
}

export interface SubscriptionDeps {
  /** Per-connection limit (0 = none). */
  readonly limit: number;
  /** Limit over all the connections of one remote address (0 = none). */
  readonly perIpLimit: number;
  /** Where the per-address counts are kept (serve/ip-counts.ts: shared by every serving thread); default here. */
  readonly perIpCounts?: IpCounts;
  /** A status at once (notifications: in the step that commits a block). */
  readonly status: (key: Uint8Array) => ScriptStatus;
  /** The same, possibly over several event-loop turns (a big history, see query/sliced-history.ts): for subscribe. */
  readonly statusSliced?: (key: Uint8Array) => Promise<ScriptStatus>;
  readonly tip: () => TipHeader | null;
  readonly log: Logger;
  readonly gauge: GaugeVec;
  readonly notifications: CounterVec<"type">;
}

export class Subscriptions {
  private readonly byKey = new Map<string, { readonly key: Uint8Array; readonly sessions: Set<Session> }>();
  private readonly parentPending = new Set<string>();
  private readonly headerSessions = new Set<Session>();
  /** Script hash subscriptions by remote address (kept only with a per-IP limit). */
  private readonly byIp: IpCounts;
  /** notify() calls so far: a status computed over several turns is stale if one came meanwhile. */
  private generation = 0;
  /** The notification round under way (rounds are chained). */
  private rounds: Promise<number> = Promise.resolve(0);

  constructor(private readonly deps: SubscriptionDeps) {
    this.byIp = deps.perIpCounts ?? new LocalIpCounts();
  }

  /**
   * The current status; registers the subscription once it is computed (a too-large history is
   * not registered). With statusSliced, a big history's status is computed over several turns;
   * if a notification round ran meanwhile it is computed again (else this client would miss the
   * change that round announced), at last in one step.
   */
  async subscribeScript(session: Session, sh: ScriptHashParam): Promise<string | null> {
    this.checkLimits(session, sh);
    let st: ScriptStatus | null = null;
    for (let attempt = 0; attempt < 3 && this.deps.statusSliced && st === null; attempt++) {
      const generation = this.generation;
      const computed = await this.deps.statusSliced(sh.key);
      if (generation === this.generation) st = computed;
    }
    if (session.dropped) return st?.status ?? null;
    this.checkLimits(session, sh);
    return this.register(session, sh, st ?? this.deps.status(sh.key));
  }

  private checkLimits(session: Session, sh: ScriptHashParam): void {
    const mine = session.subsByKey.get(sh.keyHex);
    const already = mine?.has(sh.hex) ?? false;
    if (!already && this.deps.limit > 0 && session.subCount >= this.deps.limit) {
      throw new RpcError(RPC_CODES.LIMIT_EXCEEDED, `subscription limit reached: at most ${this.deps.limit} script hashes per connection`);
    }
    const ipLimit = this.deps.perIpLimit;
    if (!already && ipLimit > 0 && this.byIp.get(session.remote) >= ipLimit) {
      throw new RpcError(RPC_CODES.LIMIT_EXCEEDED, `subscription limit reached: at most ${ipLimit} script hashes per IP address`);
    }
  }

  private register(session: Session, sh: ScriptHashParam, st: ScriptStatus): string | null {
    const mine = session.subsByKey.get(sh.keyHex);
    const already = mine?.has(sh.hex) ?? false;
    let entry = this.byKey.get(sh.keyHex);
    if (!entry) this.byKey.set(sh.keyHex, (entry = { key: sh.key, sessions: new Set() }));
    entry.sessions.add(session);
    const m = mine ?? new Map<string, string | null>();
    session.subsByKey.set(sh.keyHex, m);
    m.set(sh.hex, st.status);
    if (!already) {
      session.subCount++;
      this.countIp(session, 1);
      this.deps.gauge.inc();
    }
    this.trackParent(sh.keyHex, st.hasMempoolParent);
    return st.status;
  }

  unsubscribeScript(session: Session, sh: ScriptHashParam): boolean {
    const m = session.subsByKey.get(sh.keyHex);
    if (!m || !m.delete(sh.hex)) return false;
    session.subCount--;
    this.countIp(session, -1);
    this.deps.gauge.dec();
    if (m.size === 0) {
      session.subsByKey.delete(sh.keyHex);
      this.removeSession(sh.keyHex, session);
    }
    return true;
  }

  subscribeHeaders(session: Session): { height: number; hex: string } {
    const tip = this.deps.tip();
    if (!tip) throw new RpcError(RPC_CODES.INTERNAL_ERROR, "no blocks indexed yet");
    session.headersSubscribed = true;
    session.lastTipHashHex = tip.hashHex;
    this.headerSessions.add(session);
    return { height: tip.height, hex: tip.headerHex };
  }

  /** The connection closed: its subscriptions end. */
  dropSession(session: Session): void {
    session.dropped = true;
    this.headerSessions.delete(session);
    for (const [keyHex, m] of session.subsByKey) {
      this.deps.gauge.dec(m.size);
      this.removeSession(keyHex, session);
    }
    session.subsByKey.clear();
    this.countIp(session, -session.subCount);
    session.subCount = 0;
  }

  private countIp(session: Session, delta: number): void {
    if (this.deps.perIpLimit <= 0 || delta === 0) return;
    this.byIp.add(session.remote, delta);
  }

  /**
   * Sends what `update` changed to the sessions subscribed to it; resolves with how many
   * notifications were sent. Header notifications go at once; with statusSliced a big script's
   * status is recomputed over several event-loop turns. Rounds run one after the other (the main
   * loop's and a broadcast's), in the order they were asked for.
   */
  notify(update: ElectrumUpdate): Promise<number> {
    this.generation++;
    const headers = update.newTip ? this.notifyHeaders() : 0;
    const keys = new Set<string>();
    if (update.recheckAll) for (const k of this.byKey.keys()) keys.add(k);
    for (const k of update.touchedScriptKeysHex) if (this.byKey.has(k)) keys.add(k);
    if (update.newTip) for (const k of this.parentPending) keys.add(k);
    const round = this.rounds.then(async () => {
      let sent = headers;
      for (const keyHex of keys) sent += await this.recheck(keyHex);
      return sent;
    });
    this.rounds = round.catch(() => 0);
    return round;
  }

  private notifyHeaders(): number {
    if (this.headerSessions.size === 0) return 0;
    const tip = this.deps.tip();
    if (!tip) return 0;
    let sent = 0;
    const line = notificationJson("blockchain.headers.subscribe", [{ height: tip.height, hex: tip.headerHex }]);
    for (const s of this.headerSessions) {
      if (s.lastTipHashHex === tip.hashHex) continue;
      s.lastTipHashHex = tip.hashHex;
      s.out.send(line);
      this.deps.notifications.inc(1, { type: "headers" });
      sent++;
    }
    return sent;
  }

  private async recheck(keyHex: string): Promise<number> {
    const found = this.byKey.get(keyHex);
    if (!found) {
      this.parentPending.delete(keyHex);
      return 0;
    }
    let st: ScriptStatus;
    try {
      st = this.deps.statusSliced ? await this.deps.statusSliced(found.key) : this.deps.status(found.key);
    } catch (err) {
      const entry = this.byKey.get(keyHex);
      if (!entry) return 0;
      if (!(err instanceof QueryError)) throw err;
      // ElectrumX: a status that can no longer be computed (history too large) drops the subscriptions silently.
      this.deps.log.debug(`dropping subscriptions of script key ${keyHex}: ${err.message}`);
      for (const s of [...entry.sessions]) {
        const m = s.subsByKey.get(keyHex);
        for (const hex of m?.keys() ?? []) this.unsubscribeScript(s, { hex, key: entry.key, keyHex });
      }
      return 0;
    }
    // Sessions may have come and gone while the status was computed.
    const entry = this.byKey.get(keyHex);
    if (!entry) return 0;
    this.trackParent(keyHex, st.hasMempoolParent);
    let sent = 0;
    for (const s of entry.sessions) {
      const m = s.subsByKey.get(keyHex);
      if (!m) continue;
      for (const [hex, last] of m) {
        if (last === st.status) continue;
        m.set(hex, st.status);
        s.out.send(notificationJson("blockchain.scripthash.subscribe", [hex, st.status]));
        this.deps.notifications.inc(1, { type: "scripthash" });
        sent++;
      }
    }
    return sent;
  }

  private trackParent(keyHex: string, pending: boolean): void {
    if (pending) this.parentPending.add(keyHex);
    else this.parentPending.delete(keyHex);
  }

  private removeSession(keyHex: string, session: Session): void {
    const entry = this.byKey.get(keyHex);
    if (!entry) return;
    entry.sessions.delete(session);
    if (entry.sessions.size === 0) {
      this.byKey.delete(keyHex);
      this.parentPending.delete(keyHex);
    }
  }
}
