/**
 * Runs one route and turns its reply, or whatever it threw, into the Response electrs would send:
 * content types, `Cache-Control: public, max-age=<ttl>` on success only, the `--cors` header on
 * every answer, errors as text/plain through errorAnswer, and http_request_duration{route,status}.
 * Also electrs' router fallbacks that Elysia's router does not have (see `match`).
 */
import type { HistogramVec } from "../metrics/metrics.ts";
import type { Logger } from "../log.ts";
import type { Span, Tracing } from "../trace/tracing.ts";
import { readBody } from "./body.ts";
import { errorAnswer } from "./errors.ts";
import type { Reply, RestContext, RestRequest, Route } from "./route-kit.ts";

const CONTENT_TYPE: Record<Reply["type"], string> = {
  json: "application/json",
  text: "text/plain",
  binary: "application/octet-stream",
};

/** The route label of answers no route produced (404 endpoint does not exist, HEAD). */
export const UNMATCHED = "unmatched";

export interface DispatchOptions {
  readonly ctx: RestContext;
  readonly log: Logger;
  readonly duration: HistogramVec<"route" | "status">;
  readonly cors: string | null;
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  readonly tracing: Tracing;
}

/** A route's path split into segments; null marks a parameter (its name kept alongside). */
interface Pattern {
  readonly route: Route;
  readonly segments: readonly (string | null)[];
  readonly names: readonly (string | null)[];
}

export class Dispatcher {
  private readonly patterns: readonly Pattern[];

  constructor(
    private readonly opts: DispatchOptions,
    routes: readonly Route[],
  ) {
    this.patterns = routes.map((route) => {
      const parts = route.path.split("/").slice(1);
      return {
        route,
        segments: parts.map((p) => (p.startsWith(":") ? null : p)),
        names: parts.map((p) => (p.startsWith(":") ? p.slice(1) : null)),
      };
    });
  }

  run(route: Route, request: Request, params: Readonly<Record<string, string | undefined>>): Promise<Response> {
    const tracing = this.opts.tracing;
    if (!tracing.enabled) return this.answer(route, request, params, null);
    // A root span per request, named by the route pattern (OpenTelemetry's HTTP server spans).
    const attrs = { "http.request.method": route.method, "http.route": route.path };
    return tracing.inSpan(`${route.method} ${route.path}`, attrs, (span) => this.answer(route, request, params, span), null);
  }

  private async answer(route: Route, request: Request, params: Readonly<Record<string, string | undefined>>, span: Span | null): Promise<Response> {
    const t0 = performance.now();
    let response: Response;
    try {
      const reply = await route.handler(this.request(request, params), this.opts.ctx);
      response = this.reply(reply);
    } catch (err) {
      response = this.error(err);
      if (span && response.status >= 500) span.fail(err);
    }
    span?.setAttributes({ "http.response.status_code": response.status });
    this.observe(t0, route.name, response.status);
    return response;
  }

  /** electrs' 404 for any method and path no route takes: `endpoint does not exist "<path>"` (Rust Debug quoting). */
  notFound(request: Request): Response {
    const t0 = performance.now();
    const response = this.textError(404, `endpoint does not exist ${debugQuoted(pathOf(request.url))}`);
    this.observe(t0, UNMATCHED, 404);
    // No route, so the span is named by the method alone (OpenTelemetry's HTTP server spans).
    if (this.opts.tracing.enabled) {
      const attrs = { "http.request.method": request.method, "http.response.status_code": 404 };
      this.opts.tracing.startSpan(request.method, attrs, null).end();
    }
    return response;
  }

  private observe(t0: number, route: string, status: number): void {
    this.opts.duration.observe((performance.now() - t0) / 1000, { route, status });
  }

  /**
   * electrs splits the path on `/` and matches segment by segment, so an empty segment is a
   * parameter whose value is "" (`/blocks/` is the tip, `/block/<hash>/txs/` starts at 0) and
   * nothing else; Elysia's router never matches an empty parameter (and folds a leading `//`).
   * Paths with an empty segment are therefore matched here instead, against the same table.
   */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | null {
    const segs = path.split("/").slice(1);
    for (const p of this.patterns) {
      if (p.route.method !== method || p.segments.length !== segs.length) continue;
      if (!p.segments.every((s, i) => s === null || s === segs[i])) continue;
      const params: Record<string, string> = {};
      p.names.forEach((name, i) => {
        if (name !== null) params[name] = segs[i]!;
      });
      return { route: p.route, params };
    }
    return null;
  }

  private request(request: Request, params: Readonly<Record<string, string | undefined>>): RestRequest {
    const url = request.url;
    const q = url.indexOf("?");
    let search: URLSearchParams | null = null;
    let body: Promise<Uint8Array> | null = null;
    return {
      params,
      query: (name) => {
        if (q < 0) return undefined;
        search ??= new URLSearchParams(url.slice(q + 1));
        return search.getAll(name).at(-1);
      },
      body: () => (body ??= readBody(request, this.opts.maxBodyBytes, this.opts.bodyTimeoutMs)),
    };
  }

  private reply(r: Reply): Response {
    const headers: Record<string, string> = {
      "Content-Type": CONTENT_TYPE[r.type],
      "Cache-Control": typeof r.cache === "number" ? `public, max-age=${r.cache}` : r.cache,
    };
    if (this.opts.cors !== null) headers["Access-Control-Allow-Origin"] = this.opts.cors;
    return new Response(r.body, { status: r.status ?? 200, headers });
  }

  private error(err: unknown): Response {
    const { status, message } = errorAnswer(err, this.opts.log);
    return this.textError(status, message);
  }

  private textError(status: number, message: string): Response {
    const headers: Record<string, string> = { "Content-Type": "text/plain" };
    if (this.opts.cors !== null) headers["Access-Control-Allow-Origin"] = this.opts.cors;
    // The rest of a refused body is not read: close the connection rather than parse it as the next request.
    if (status === 408 || status === 413) headers.Connection = "close";
    return new Response(message, { status, headers });
  }
}

/**
 * The raw path of a request URL, without the query string. Bun gives an absolute URL, except for
 * a request without a Host header (HTTP/1.0, or an empty `Host:`): then the URL is the request
 * target itself, `/path?query` (which may begin with `//`).
 */
export function pathOf(url: string): string {
  const start = isRelativeUrl(url) ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

/** A request URL that is only the path (see pathOf): Elysia's router would take its first segment for the host. */
export function isRelativeUrl(url: string): boolean {
  return url.startsWith("/");
}

/** Rust's `{:?}` of a str: quoted, with `"` `\` and control characters escaped. */
export function debugQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c === 0) out += "\\0";
    else if (c < 0x20 || c === 0x7f) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}
