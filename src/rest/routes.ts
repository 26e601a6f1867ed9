/**
 * THE route table of the Esplora REST API: every route electrs (BS, BS-new) and mempool/electrs
 * (MP) serve for Bitcoin, as data. The server registers each entry with Elysia; `name` is the
 * `route` label of http_request_duration. Handlers live per resource under routes/.
 */
import type { Route } from "./route-kit.ts";
import { blockRoutes } from "./routes/blocks.ts";
import { internalRoutes } from "./routes/internal.ts";
import { mempoolRoutes } from "./routes/mempool.ts";
import { scriptRouteTable } from "./routes/scripts.ts";
import { txRoutes } from "./routes/txs.ts";

export const ROUTES: readonly Route[] = Object.freeze([...blockRoutes, ...scriptRouteTable, ...txRoutes, ...mempoolRoutes, ...internalRoutes]);
