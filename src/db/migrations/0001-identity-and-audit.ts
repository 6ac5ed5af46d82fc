import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE orgs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      kind text NOT NULL CHECK (kind IN ('provider', 'tenant')),
      display_name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (id, kind)
    );

    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{0,127}$'),
      display_name text NOT NULL,
      password_hash text,
      disabled boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- A role must fit its org's kind: the composite key carries the kind so a CHECK can compare them.
    CREATE TABLE memberships (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      org_id uuid NOT NULL,
      org_kind text NOT NULL,
      role text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, org_id),
      FOREIGN KEY (org_id, org_kind) REFERENCES orgs (id, kind) ON DELETE CASCADE,
      CHECK (
        (org_kind = 'provider' AND role IN ('provider-admin', 'provider-viewer'))
        OR (org_kind = 'tenant' AND role IN ('tenant-admin', 'tenant-viewer'))
      )
    );
    CREATE INDEX memberships_org_idx ON memberships (org_id);

    CREATE TABLE sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      secret_hash bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      address text
    );
    CREATE INDEX sessions_user_idx ON sessions (user_id);
    CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

    CREATE TABLE api_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      secret_hash bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    );
    CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

    CREATE TABLE audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      actor text NOT NULL,
      actor_kind text NOT NULL CHECK (actor_kind IN ('anonymous', 'session', 'token', 'oidc', 'agent', 'system')),
      org_name text,
      action text NOT NULL,
      target text NOT NULL,
      result text NOT NULL CHECK (result IN ('success', 'failure')),
      status_code integer NOT NULL,
      request_id text NOT NULL,
      method text NOT NULL,
      path text NOT NULL
    );
    CREATE INDEX audit_log_org_idx ON audit_log (org_name, id DESC);
    CREATE INDEX audit_log_at_idx ON audit_log (at);

    -- Fixed-window counters of failed logins, keyed by user and by address, shared by all replicas.
    CREATE TABLE login_throttle (
      key text PRIMARY KEY,
      window_started_at timestamptz NOT NULL,
      failures integer NOT NULL
    );
  `.execute(db);
}
