import { type Kysely, sql } from "kysely";
import { addStateMachine } from "../../statemachine/migration.ts";

const MAC = sql.raw(`'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$'`);
const SLUG = sql.raw(`'^[a-z0-9][a-z0-9._-]{0,62}$'`);

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sites (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      name text NOT NULL CHECK (name ~ ${SLUG}),
      description text NOT NULL DEFAULT '',
      location text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, name)
    );

    CREATE TABLE racks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      site_id uuid REFERENCES sites (id) ON DELETE RESTRICT,
      name text NOT NULL UNIQUE CHECK (name ~ ${SLUG}),
      manufacturer text,
      serial_number text,
      model text,
      location text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'ingesting', 'ingested')),
      labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (manufacturer, serial_number)
    );
    CREATE INDEX racks_site_idx ON racks (site_id);

    -- Rack status only moves forward: new → ingesting → ingested.
    CREATE FUNCTION racks_status_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF array_position(ARRAY['new', 'ingesting', 'ingested'], NEW.status)
         < array_position(ARRAY['new', 'ingesting', 'ingested'], OLD.status) THEN
        RAISE EXCEPTION 'rack status cannot go back from % to %', OLD.status, NEW.status
          USING ERRCODE = 'check_violation', CONSTRAINT = 'racks_status_forward_only';
      END IF;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER racks_status_forward_only BEFORE UPDATE OF status ON racks
      FOR EACH ROW EXECUTE FUNCTION racks_status_forward_only();

    CREATE TABLE hardware_spec_profiles (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      name text NOT NULL CHECK (name ~ ${SLUG}),
      description text NOT NULL DEFAULT '',
      spec jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, name)
    );

    CREATE TABLE expected_machines (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      serial_number text UNIQUE,
      bmc_mac text UNIQUE CHECK (bmc_mac ~ ${MAC}),
      bmc_address text,
      bmc_protocol text CHECK (bmc_protocol IN ('redfish', 'ipmi')),
      bmc_username text,
      -- Vault ciphertext of the BMC password; never returned by the API.
      bmc_credentials text,
      hardware_spec_profile_id uuid REFERENCES hardware_spec_profiles (id) ON DELETE RESTRICT,
      spec jsonb CHECK (spec IS NULL OR jsonb_typeof(spec) = 'object'),
      rack_id uuid REFERENCES racks (id) ON DELETE SET NULL,
      slot integer CHECK (slot >= 0),
      hostname text,
      labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (serial_number IS NOT NULL OR bmc_mac IS NOT NULL),
      CHECK ((bmc_username IS NULL) = (bmc_credentials IS NULL))
    );

    CREATE TABLE machines (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      serial_number text,
      system_uuid uuid,
      manufacturer text,
      model text,
      hostname text,
      labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
      -- The normalized inventory the agent reported (protocol HardwareInventory) and what each probe saw.
      inventory jsonb NOT NULL CHECK (jsonb_typeof(inventory) = 'object'),
      probes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(probes) = 'object'),
      -- Digest of the identity-relevant inventory, so an identical re-enrollment is recognised cheaply.
      inventory_digest text NOT NULL,
      boot_mac text CHECK (boot_mac ~ ${MAC}),
      agent_version text,
      expected_machine_id uuid UNIQUE REFERENCES expected_machines (id) ON DELETE SET NULL,
      hardware_spec jsonb CHECK (hardware_spec IS NULL OR jsonb_typeof(hardware_spec) = 'object'),
      -- What a ready machine boots: {kernel, initrd, cmdline}, artifact names or URLs.
      boot_image jsonb CHECK (boot_image IS NULL OR jsonb_typeof(boot_image) = 'object'),
      enrolled_at timestamptz NOT NULL DEFAULT now(),
      inventory_updated_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX machines_serial_number_key ON machines (serial_number) WHERE serial_number IS NOT NULL;
    CREATE UNIQUE INDEX machines_system_uuid_key ON machines (system_uuid) WHERE system_uuid IS NOT NULL;
    CREATE INDEX machines_org_idx ON machines (org_id);
    CREATE INDEX machines_labels_idx ON machines USING gin (labels);
  `.execute(db);

  await addStateMachine(db, { entity: "machine" });

  await sql`
    -- A MAC belongs to one machine at a time; a NIC moved to another machine moves its row.
    CREATE TABLE machine_interfaces (
      mac_address text PRIMARY KEY CHECK (mac_address ~ ${MAC}),
      machine_id uuid NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
      name text,
      is_boot boolean NOT NULL DEFAULT false,
      speed_mbps integer,
      driver text,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX machine_interfaces_machine_idx ON machine_interfaces (machine_id);

    CREATE TABLE machine_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      machine_id uuid NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT now(),
      kind text NOT NULL CHECK (kind IN ('enrolled', 'inventory_changed', 'identity_changed', 'expected_matched')),
      details jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX machine_events_machine_idx ON machine_events (machine_id, id DESC);

    CREATE TABLE components (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      rack_id uuid REFERENCES racks (id) ON DELETE RESTRICT,
      type text NOT NULL CHECK (type IN ('compute', 'nvswitch', 'powershelf', 'torswitch', 'cdu')),
      name text,
      manufacturer text NOT NULL,
      model text,
      serial_number text NOT NULL,
      external_id text,
      slot integer CHECK (slot >= 0),
      tray_index integer CHECK (tray_index >= 0),
      firmware_version text,
      machine_id uuid REFERENCES machines (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      -- Soft delete: the row (and what refers to it) stays for the audit trail.
      deleted_at timestamptz
    );
    -- Uniqueness holds among live components, so a replaced part can be registered again after removal.
    CREATE UNIQUE INDEX components_manufacturer_serial_key ON components (manufacturer, serial_number)
      WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX components_type_external_id_key ON components (type, external_id)
      WHERE external_id IS NOT NULL AND deleted_at IS NULL;
    CREATE UNIQUE INDEX components_machine_key ON components (machine_id) WHERE machine_id IS NOT NULL AND deleted_at IS NULL;
    CREATE INDEX components_rack_idx ON components (rack_id);

    -- A BMC is identified by its MAC address.
    CREATE TABLE bmcs (
      mac_address text PRIMARY KEY CHECK (mac_address ~ ${MAC}),
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE RESTRICT,
      component_id uuid REFERENCES components (id) ON DELETE SET NULL,
      machine_id uuid UNIQUE REFERENCES machines (id) ON DELETE SET NULL,
      address text NOT NULL,
      port integer CHECK (port BETWEEN 1 AND 65535),
      protocol text NOT NULL CHECK (protocol IN ('redfish', 'ipmi')),
      username text NOT NULL,
      -- Vault ciphertext of the password; never returned by the API.
      credentials text NOT NULL,
      -- {mode: verify, ca?} | {mode: pinned, sha256Fingerprint} | {mode: insecure-allow-self-signed}
      tls jsonb NOT NULL DEFAULT '{"mode": "verify"}',
      power_state text,
      last_contact_at timestamptz,
      last_error text,
      oob_inventory jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX bmcs_component_idx ON bmcs (component_id);

    -- Short-lived tokens issued in iPXE scripts: an agent proves with one that it booted what we served to
    -- that MAC. Only a hash is stored.
    CREATE TABLE boot_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      mac_address text NOT NULL CHECK (mac_address ~ ${MAC}),
      purpose text NOT NULL CHECK (purpose IN ('enroll')),
      secret_hash bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX boot_tokens_expiry_idx ON boot_tokens (expires_at);
  `.execute(db);
}
