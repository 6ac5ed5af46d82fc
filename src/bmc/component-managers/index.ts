export { type BmcTaskHandle, readBmcFirmwareVersion } from "./bmc-firmware.ts";
export { BmcComputeManager } from "./compute.ts";
export {
  type BringUpResult,
  type ComponentExpectation,
  type ComponentFirmwareRequest,
  type ComponentFirmwareStatus,
  type ComponentManager,
  type ComponentPowerStatus,
  type ComponentTarget,
  consistencyOf,
  type FirmwareConsistencyReport,
  type FirmwarePhase,
  type FirmwareStrategy,
  type FirmwareVersionReading,
  MANAGED_COMPONENT_TYPES,
  type ManagedComponentType,
  type OutletPowerStatus,
  type SshEndpoint,
  type SshHostKeyPolicy,
  UnknownComponentManagerError,
  versionMatches,
} from "./model.ts";
export { type CommandResult, NvosSession, withNvos } from "./nvos-ssh.ts";
export { NvSwitchManager, type NvSwitchManagerOptions } from "./nvswitch.ts";
export { RedfishPowerShelfManager, type RedfishPowerShelfOptions } from "./powershelf-redfish.ts";
export {
  type ComponentManagerFactory,
  ComponentManagerRegistry,
  createComponentManagerRegistry,
  type DefaultRegistryOptions,
  implementationFor,
} from "./registry.ts";
export type { ComponentManagerOptions } from "./support.ts";
