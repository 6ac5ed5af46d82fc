export { createLabTls, type LabTlsMaterial } from "../common/tls.ts";
export type { LabHttpsDevice } from "./devices.ts";
export type { FaultController, FaultMatch, FaultSettings } from "./faults.ts";
export type { RequestRecord } from "./https-server.ts";
export {
  DEFAULT_TIMING,
  type RedfishFixtureBmc,
  type RedfishFixtureOptions,
  type RedfishLab,
  type RedfishLabBmc,
  type RedfishLabMachineOptions,
  type RedfishLabMachineState,
  type RedfishLabOptions,
  type RedfishLabProduct,
  startRedfishFixtureBmc,
  startRedfishLab,
} from "./lab.ts";
export type {
  BootListener,
  LabBootDevice,
  LabBootEvent,
  MachineIdentity,
  MachineTiming,
  OsShutdown,
  PowerChange,
  PowerChangeListener,
  RedfishPowerState,
} from "./machine.ts";
export type { RedfishVendor } from "./profiles.ts";
export type { LabCredentials, RedfishLabQuirks } from "./service.ts";
