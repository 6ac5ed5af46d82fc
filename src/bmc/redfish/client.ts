/**
 * Reading the Redfish resource graph: documents with their ETags, collections with `$expand` where the
 * service root says the BMC supports it (member GETs otherwise, and for any member the BMC left
 * unexpanded), server-side paging through `Members@odata.nextLink`.
 */
import { BmcError } from "../driver.ts";
import {
  arrayOf,
  booleanOf,
  documentOf,
  isDocument,
  isLinkOnly,
  linkPath,
  normalizePath,
  numberOf,
  type RedfishDocument,
  stringOf,
} from "./json.ts";
import { type RedfishResponse, type RedfishTransport, redfishErrorMessage } from "./transport.ts";

const MAX_COLLECTION_PAGES = 50;

export interface FetchedDocument {
  readonly path: string;
  readonly doc: RedfishDocument;
  readonly etag: string | undefined;
}

export interface MemberOptions {
  /** Keep only these member links before fetching them (e.g. the newest log entries). */
  readonly select?: (links: readonly string[]) => readonly string[];
}

export class RedfishClient {
  private expand: string | null | undefined;

  constructor(
    readonly transport: RedfishTransport,
    private readonly concurrency: number,
  ) {}

  async serviceRoot(signal: AbortSignal): Promise<RedfishDocument> {
    return await this.transport.getServiceRoot(signal);
  }

  async get(path: string, signal: AbortSignal): Promise<FetchedDocument> {
    const request = { method: "GET" as const, path };
    const response = await this.transport.send(request, signal);
    if (response.status !== 200) throw this.rejection(request, response);
    if (!isDocument(response.body)) {
      throw this.transport.unexpected(request, response, "the answer is not a JSON document");
    }
    return { path: normalizePath(path), doc: response.body, etag: etagOf(response, response.body) };
  }

  /**
   * The members of a collection as documents, in the BMC's order. With `select`, only the chosen links
   * among unexpanded members are fetched (a log of thousands of entries), and no `$expand` is asked for.
   */
  async members(
    collectionPath: string,
    signal: AbortSignal,
    options: MemberOptions = {},
  ): Promise<RedfishDocument[]> {
    const expand = options.select === undefined ? await this.expandQuery(signal) : undefined;
    const firstPath = expand !== undefined ? withQuery(collectionPath, `$expand=${expand}`) : collectionPath;
    const entries: RedfishDocument[] = [];
    let next: string | undefined = firstPath;
    for (let page = 0; next !== undefined && page < MAX_COLLECTION_PAGES; page++) {
      const { doc } = await this.get(next, signal);
      for (const member of arrayOf(doc, "Members")) if (isDocument(member)) entries.push(member);
      const nextLink = stringOf(doc, "Members@odata.nextLink");
      next = nextLink !== undefined ? normalizePath(nextLink) : undefined;
    }
    const expanded = entries.filter((entry) => !isLinkOnly(entry));
    const links = entries.filter(isLinkOnly).flatMap((entry) => {
      const path = linkPath(entry);
      return path !== undefined ? [path] : [];
    });
    const wanted = options.select !== undefined ? options.select(links) : links;
    const fetched = await mapLimit(
      wanted,
      this.concurrency,
      async (path) => (await this.get(path, signal)).doc,
    );
    if (expanded.length === 0) return fetched;
    if (fetched.length === 0) return expanded;
    // Mixed answers (the BMC expanded some members only): keep the collection's order.
    const byPath = new Map(wanted.map((path, index) => [path, fetched[index]]));
    return entries.flatMap((entry) => {
      if (!isLinkOnly(entry)) return [entry];
      const doc = byPath.get(linkPath(entry) ?? "");
      return doc !== undefined ? [doc] : [];
    });
  }

  /** `.($levels=1)` when the service root advertises expansion of subordinate resources. */
  private async expandQuery(signal: AbortSignal): Promise<string | undefined> {
    if (this.expand === undefined) {
      const root = await this.serviceRoot(signal);
      const expand = documentOf(documentOf(root, "ProtocolFeaturesSupported"), "ExpandQuery");
      const noLinks = booleanOf(expand, "NoLinks") === true;
      const all = booleanOf(expand, "ExpandAll") === true;
      const levels = booleanOf(expand, "Levels") === true && (numberOf(expand, "MaxLevels") ?? 1) >= 1;
      if (!noLinks && !all) this.expand = null;
      else this.expand = `${noLinks ? "." : "*"}${levels ? "($levels=1)" : ""}`;
    }
    return this.expand ?? undefined;
  }

  rejection(request: { method: string; path: string }, response: RedfishResponse): BmcError {
    const detail = redfishErrorMessage(response.body);
    const what = this.transport.describe({ method: request.method as "GET", path: request.path });
    return new BmcError(
      "rejected",
      `${what}: HTTP ${response.status}${detail !== undefined ? ` (${detail})` : ""}`,
      response.status,
    );
  }
}

export function etagOf(response: RedfishResponse, body: RedfishDocument | undefined): string | undefined {
  return response.header("etag") ?? stringOf(body, "@odata.etag");
}

function withQuery(path: string, query: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}${query}`;
}

/** Runs `work` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
