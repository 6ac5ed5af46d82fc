/**
 * The registry of component managers, keyed by component type and implementation name
 * (`compute/redfish`, `compute/ipmi`, `powershelf/redfish`, `nvswitch/redfish+ssh`). A manager is created
 * on first use and kept, so its sessions are reused; `close()` ends them all. Lookups of a type or an
 * implementation nobody registered fail with UnknownComponentManagerError, naming what exists.
 */
import { bmcDriverFactory } from "../driver-factory.ts";
import type { IpmiDriverOptions } from "../ipmi/driver.ts";
import type { RedfishDriverOptions } from "../redfish/index.ts";
import { BmcComputeManager } from "./compute.ts";
import {
  type ComponentManager,
  MANAGED_COMPONENT_TYPES,
  type ManagedComponentType,
  UnknownComponentManagerError,
} from "./model.ts";
import { NvSwitchManager } from "./nvswitch.ts";
import { RedfishPowerShelfManager } from "./powershelf-redfish.ts";
import type { ComponentManagerOptions } from "./support.ts";

export type ComponentManagerFactory = () => ComponentManager;

export class ComponentManagerRegistry {
  private readonly factories = new Map<string, ComponentManagerFactory>();
  private readonly instances = new Map<string, ComponentManager>();

  register(type: ManagedComponentType, implementation: string, factory: ComponentManagerFactory): void {
    const key = `${type}/${implementation}`;
    if (this.factories.has(key)) throw new Error(`component manager ${key} is already registered`);
    this.factories.set(key, factory);
  }

  /** Registered keys, `type/implementation`, sorted. */
  keys(): string[] {
    return [...this.factories.keys()].sort();
  }

  has(type: string, implementation: string): boolean {
    return this.factories.has(`${type}/${implementation}`);
  }

  /** The manager for a type and implementation (as stored in inventory rows, hence plain strings). */
  get(type: string, implementation: string): ComponentManager {
    const key = `${type}/${implementation}`;
    const existing = this.instances.get(key);
    if (existing !== undefined) return existing;
    const factory = this.factories.get(key);
    if (factory === undefined) {
      const known = (MANAGED_COMPONENT_TYPES as readonly string[]).includes(type)
        ? this.keys().filter((candidate) => candidate.startsWith(`${type}/`))
        : this.keys();
      throw new UnknownComponentManagerError(type, implementation, known);
    }
    const created = factory();
    this.instances.set(key, created);
    return created;
  }

  async close(): Promise<void> {
    const all = [...this.instances.values()];
    this.instances.clear();
    await Promise.all(all.map((manager) => manager.close()));
  }
}

export interface DefaultRegistryOptions extends ComponentManagerOptions {
  readonly redfish?: RedfishDriverOptions;
  readonly ipmi?: IpmiDriverOptions;
}

/** A registry with the built-in managers. */
export function createComponentManagerRegistry(
  options: DefaultRegistryOptions = {},
): ComponentManagerRegistry {
  const { redfish, ipmi, ...common } = options;
  const createDriver = bmcDriverFactory({
    ...(common.logger !== undefined ? { logger: common.logger } : {}),
    ...(redfish !== undefined ? { redfish } : {}),
    ...(ipmi !== undefined ? { ipmi } : {}),
  });
  const registry = new ComponentManagerRegistry();
  registry.register("compute", "redfish", () => new BmcComputeManager("redfish", createDriver, common));
  registry.register("compute", "ipmi", () => new BmcComputeManager("ipmi", createDriver, common));
  registry.register("powershelf", "redfish", () => new RedfishPowerShelfManager(common));
  registry.register("nvswitch", "redfish+ssh", () => new NvSwitchManager({ ...common, createDriver }));
  return registry;
}

/**
 * The implementation for an inventory row: compute trays by their BMC's protocol, power shelves over
 * Redfish, NVSwitch trays over Redfish plus SSH.
 */
export function implementationFor(type: ManagedComponentType, bmcProtocol: "redfish" | "ipmi"): string {
  switch (type) {
    case "compute":
      return bmcProtocol;
    case "powershelf":
      return "redfish";
    case "nvswitch":
      return "redfish+ssh";
  }
}
