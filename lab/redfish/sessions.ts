/**
 * Redfish authentication of a simulated device: SessionService login (X-Auth-Token, idle timeout) and
 * HTTP Basic, shared by every lab Redfish service (BMCs, power shelves) so they refuse and accept
 * credentials the same way.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { type LabRequest, type LabResponse, redfishError } from "./https-server.ts";

export interface LabCredentials {
  readonly username: string;
  readonly password: string;
}

export interface LabSessionOptions {
  readonly credentials: LabCredentials;
  /** Accept HTTP Basic besides sessions. */
  readonly basicAuth: boolean;
  readonly sessionTimeoutMs: number;
  /** The Sessions collection, e.g. /redfish/v1/SessionService/Sessions. */
  readonly collectionPath: string;
  /** Called after a successful login (the device's event log records it). */
  readonly onLogin?: (username: string) => void;
}

interface Session {
  readonly id: string;
  readonly token: string;
  readonly username: string;
  lastUsed: number;
}

export class LabSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly options: LabSessionOptions) {}

  get count(): number {
    return this.sessions.size;
  }

  /** Session resource paths, oldest first. */
  paths(): string[] {
    return [...this.sessions.keys()].map((id) => this.pathOf(id));
  }

  /** Ends every session as an idle timeout would: the next request with its token gets 401. */
  expire(): void {
    this.sessions.clear();
  }

  /** undefined when the request carries a live session token or valid Basic credentials; else the 401. */
  authenticate(request: LabRequest): LabResponse | undefined {
    const token = header(request, "x-auth-token");
    if (token !== undefined) {
      const session = this.byToken(token);
      if (session !== undefined) {
        session.lastUsed = Date.now();
        return undefined;
      }
      return this.unauthorized();
    }
    const authorization = header(request, "authorization");
    if (this.options.basicAuth && authorization?.startsWith("Basic ")) {
      const decoded = Buffer.from(authorization.slice(6), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon > 0 && this.matches(decoded.slice(0, colon), decoded.slice(colon + 1))) return undefined;
    }
    return this.unauthorized();
  }

  /** POST to the Sessions collection. */
  login(request: LabRequest): LabResponse {
    const body = request.body as Record<string, unknown> | undefined;
    const username = typeof body?.UserName === "string" ? body.UserName : undefined;
    const password = typeof body?.Password === "string" ? body.Password : undefined;
    if (username === undefined || password === undefined) {
      return redfishError(400, "Base.1.8.PropertyMissing", "UserName and Password are required.");
    }
    if (!this.matches(username, password)) {
      return redfishError(401, "Base.1.8.ResourceAtUriUnauthorized", "Invalid username or password.");
    }
    const session: Session = {
      id: randomBytes(8).toString("hex"),
      token: randomBytes(24).toString("hex"),
      username,
      lastUsed: Date.now(),
    };
    this.sessions.set(session.id, session);
    this.options.onLogin?.(username);
    return {
      status: 201,
      headers: { "x-auth-token": session.token, location: this.pathOf(session.id) },
      body: this.render(session),
    };
  }

  /** DELETE of a session by its id (the last path segment); false when there is no such session. */
  logout(id: string): boolean {
    return this.sessions.delete(id);
  }

  /** The Session resource with this id, if it exists. */
  document(id: string): Record<string, unknown> | undefined {
    const session = this.sessions.get(id);
    return session !== undefined ? this.render(session) : undefined;
  }

  private pathOf(id: string): string {
    return `${this.options.collectionPath}/${id}`;
  }

  private render(session: Session): Record<string, unknown> {
    return {
      "@odata.id": this.pathOf(session.id),
      "@odata.type": "#Session.v1_3_0.Session",
      Id: session.id,
      Name: "User Session",
      UserName: session.username,
    };
  }

  private unauthorized(): LabResponse {
    const error = redfishError(401, "Base.1.8.NoValidSession", "There is no valid session established.");
    return this.options.basicAuth
      ? { ...error, headers: { "www-authenticate": 'Basic realm="Redfish"' } }
      : error;
  }

  private matches(username: string, password: string): boolean {
    const same = (a: string, b: string): boolean => {
      const left = Buffer.from(a);
      const right = Buffer.from(b);
      return left.length === right.length && timingSafeEqual(left, right);
    };
    const { credentials } = this.options;
    return same(username, credentials.username) && same(password, credentials.password);
  }

  private byToken(token: string): Session | undefined {
    for (const session of this.sessions.values()) {
      if (session.token !== token) continue;
      if (Date.now() - session.lastUsed > this.options.sessionTimeoutMs) {
        this.sessions.delete(session.id);
        return undefined;
      }
      return session;
    }
    return undefined;
  }
}

export function header(request: LabRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
