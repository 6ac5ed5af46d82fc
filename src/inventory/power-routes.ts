import type { HttpApp } from "../http/app.ts";
import { IdParams } from "./inventory-schema.ts";
import {
  BootDeviceRequestSchema,
  BootDeviceResultSchema,
  PowerActionRequestSchema,
  PowerActionResultSchema,
  PowerStatusSchema,
  SensorsResultSchema,
} from "./power-model.ts";
import type { PowerService } from "./power-service.ts";

const TAGS = ["machines"];
const READERS = { orgRoles: ["provider-admin", "provider-viewer"] } as const;
const WRITERS = { orgRoles: ["provider-admin"] } as const;
const THROUGH_THE_BMC =
  "Goes to the machine's BMC: 409 when the machine has none; 502 when the BMC refuses or cannot be reached, " +
  "504 when it does not answer in time, 422 when it refuses the stored credentials or cannot do this.";

export function registerPowerRoutes(app: HttpApp, power: PowerService): void {
  app.post(
    "/api/v1/orgs/:org/machines/:id/power",
    {
      schema: {
        operationId: "powerMachine",
        tags: TAGS,
        summary: "Power the machine on, off, restart or cycle it through its BMC",
        description: `202 once the BMC accepted the action; the transition goes on, poll GET …/power. ${THROUGH_THE_BMC}`,
        params: IdParams,
        body: PowerActionRequestSchema,
        response: { 202: PowerActionResultSchema },
      },
      config: { access: WRITERS },
    },
    async (request, reply) => {
      const { org, id } = request.params;
      request.auditTarget = `machine=${id} action=${request.body.action}`;
      const { powerState, bmc } = await power.setPower(org, id, request.body);
      request.auditTarget = `machine=${id} bmc=${bmc.macAddress} action=${request.body.action}`;
      return reply.status(202).send({ machineId: id, action: request.body.action, powerState, bmc });
    },
  );

  app.get(
    "/api/v1/orgs/:org/machines/:id/power",
    {
      schema: {
        operationId: "getMachinePower",
        tags: TAGS,
        summary: "The machine's power state and boot override, read from its BMC now",
        description: THROUGH_THE_BMC,
        params: IdParams,
        response: { 200: PowerStatusSchema },
      },
      config: { access: READERS },
    },
    async (request) => {
      const { org, id } = request.params;
      const status = await power.getPower(org, id);
      return { machineId: id, ...status, checkedAt: new Date().toISOString() };
    },
  );

  app.post(
    "/api/v1/orgs/:org/machines/:id/boot-device",
    {
      schema: {
        operationId: "setMachineBootDevice",
        tags: TAGS,
        summary: "Set the boot override (device, once or continuous, UEFI or legacy) through the BMC",
        description: THROUGH_THE_BMC,
        params: IdParams,
        body: BootDeviceRequestSchema,
        response: { 200: BootDeviceResultSchema },
      },
      config: { access: WRITERS },
    },
    async (request) => {
      const { org, id } = request.params;
      request.auditTarget = `machine=${id} boot=${request.body.device}/${request.body.persistence}`;
      const { bootOverride, bmc } = await power.setBootDevice(org, id, request.body);
      return { machineId: id, requested: request.body, bootOverride, bmc };
    },
  );

  app.get(
    "/api/v1/orgs/:org/machines/:id/sensors",
    {
      schema: {
        operationId: "getMachineSensors",
        tags: TAGS,
        summary: "Temperatures, fans, power and power supplies, read from the machine's BMC now",
        description: THROUGH_THE_BMC,
        params: IdParams,
        response: { 200: SensorsResultSchema },
      },
      config: { access: READERS },
    },
    async (request) => {
      const { org, id } = request.params;
      const report = await power.sensors(org, id);
      return {
        machineId: id,
        readAt: new Date().toISOString(),
        bmc: report.bmc,
        sensors: [...report.sensors],
        powerSupplies: [...report.powerSupplies],
      };
    },
  );
}
