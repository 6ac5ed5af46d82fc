/**
 * Fixture mode: serves a captured Redfish tree (short layout: `Systems/1/index.json` is the body of
 * `GET /redfish/v1/Systems/1`) read-only, so drivers can be tested against real vendor documents. Writes
 * answer 405. Paths match case-insensitively, as on iLO (whose own links mix `Systems` and `systems`), and
 * `$expand` is honoured when the tree's service root advertises it.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { type LabRequest, type LabResponse, redfishError } from "./https-server.ts";
import type { LabCredentials } from "./service.ts";

type Doc = Record<string, unknown>;

const ROOT = "/redfish/v1";

export class FixtureRedfishService {
  private readonly expand: boolean;

  private constructor(
    private readonly documents: ReadonlyMap<string, Doc>,
    private readonly credentials: LabCredentials | undefined,
  ) {
    const root = documents.get(ROOT.toLowerCase());
    const features = root?.ProtocolFeaturesSupported as Doc | undefined;
    const expand = features?.ExpandQuery as Doc | undefined;
    this.expand = expand?.NoLinks === true || expand?.ExpandAll === true;
  }

  /** Reads every `index.json` under `directory`; `credentials` undefined accepts any request. */
  static async load(
    directory: string,
    credentials: LabCredentials | undefined,
  ): Promise<FixtureRedfishService> {
    const files = await readdir(directory, { recursive: true });
    const documents = new Map<string, Doc>();
    await Promise.all(
      files
        .filter((file) => path.basename(file) === "index.json")
        .map(async (file) => {
          const relative = path.dirname(file).split(path.sep).join("/");
          const resource = relative === "." ? ROOT : `${ROOT}/${relative}`;
          const parsed: unknown = JSON.parse(await readFile(path.join(directory, file), "utf8"));
          if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
            documents.set(resource.toLowerCase(), parsed as Doc);
          }
        }),
    );
    if (!documents.has(ROOT.toLowerCase()))
      throw new Error(`${directory} holds no service root (index.json)`);
    return new FixtureRedfishService(documents, credentials);
  }

  /** How many resources the tree holds. */
  get size(): number {
    return this.documents.size;
  }

  handle(request: LabRequest): LabResponse {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return {
        ...redfishError(405, "Base.1.8.OperationNotAllowed", "This fixture BMC is read-only."),
        headers: { allow: "GET, HEAD" },
      };
    }
    const key = request.path.toLowerCase();
    if (key === "/redfish") return { status: 200, body: { v1: `${ROOT}/` } };
    if (key !== ROOT.toLowerCase() && !this.authorized(request)) {
      return {
        ...redfishError(401, "Base.1.8.NoValidSession", "There is no valid session established."),
        headers: { "www-authenticate": 'Basic realm="Redfish"' },
      };
    }
    const doc = this.documents.get(key);
    if (doc === undefined) {
      return redfishError(
        404,
        "Base.1.8.ResourceMissingAtURI",
        `The resource at the URI ${request.path} was not found.`,
      );
    }
    // Captures of missing resources (e.g. a reaped task) hold the BMC's error body.
    if ("error" in doc) return { status: 404, body: doc };
    let body = doc;
    if (this.expand && request.query.has("$expand") && Array.isArray(doc.Members)) {
      body = {
        ...doc,
        Members: doc.Members.map((member: unknown) => {
          const id = (member as Doc)["@odata.id"];
          if (typeof id !== "string") return member;
          const resolved = this.documents.get(id.replace(/\/+$/, "").toLowerCase());
          return resolved !== undefined && !("error" in resolved) ? resolved : member;
        }),
      };
    }
    const etag = typeof doc["@odata.etag"] === "string" ? doc["@odata.etag"] : undefined;
    return { status: 200, ...(etag !== undefined ? { headers: { etag } } : {}), body };
  }

  private authorized(request: LabRequest): boolean {
    if (this.credentials === undefined) return true;
    const value = request.headers.authorization;
    const authorization = Array.isArray(value) ? value[0] : value;
    if (authorization?.startsWith("Basic ") !== true) return false;
    const decoded = Buffer.from(authorization.slice(6), "base64").toString("utf8");
    return decoded === `${this.credentials.username}:${this.credentials.password}`;
  }
}
