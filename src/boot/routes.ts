import fastifyStatic from "@fastify/static";
import { Type } from "typebox";
import { UnauthenticatedError } from "../errors.ts";
import type { HttpApp } from "../http/app.ts";
import type { ArtifactStore } from "../images/artifact-store.ts";
import {
  ENROLL_PATH,
  ENROLLMENT_BODY_LIMIT_BYTES,
  EnrollmentRequestSchema,
  EnrollmentResponseSchema,
} from "../protocol/enrollment.ts";
import type { BootService } from "./boot-service.ts";
import type { EnrollmentService } from "./enrollment.ts";

const IPXE_CONTENT_TYPE = "text/plain; charset=utf-8";

/**
 * The machine-facing endpoints: `/boot/v1` (iPXE scripts and boot files) and `/agent/v1` (agents). They
 * are not under /api: machines cannot log in. The iPXE script hands out a short-lived boot token bound to
 * the MAC; the agent presents it.
 */
export async function registerBootRoutes(
  app: HttpApp,
  deps: { boot: BootService; enrollment: EnrollmentService; artifacts: ArtifactStore },
): Promise<void> {
  app.get(
    "/boot/v1/ipxe",
    {
      schema: {
        operationId: "getIpxeScript",
        tags: ["boot"],
        summary: "iPXE script for the machine asking; without parameters, a script that asks again with them",
        querystring: Type.Object({
          mac: Type.Optional(Type.String({ maxLength: 64 })),
          serial: Type.Optional(Type.String({ maxLength: 256 })),
          uuid: Type.Optional(Type.String({ maxLength: 64 })),
          arch: Type.Optional(Type.String({ maxLength: 32 })),
        }),
        produces: ["text/plain"],
      },
    },
    async (request, reply) => {
      const { script } = await deps.boot.script(request.query);
      return reply.type(IPXE_CONTENT_TYPE).header("cache-control", "no-store").send(script);
    },
  );

  await app.register(async (files) => {
    await files.register(fastifyStatic, {
      root: deps.artifacts.root,
      prefix: "/boot/v1/files/",
      decorateReply: false,
      dotfiles: "deny",
      index: false,
      list: false,
      acceptRanges: true,
      cacheControl: false,
    });
  });

  app.post(
    ENROLL_PATH,
    {
      bodyLimit: ENROLLMENT_BODY_LIMIT_BYTES,
      schema: {
        operationId: "enrollMachine",
        tags: ["agent"],
        summary:
          "An agent reports the hardware of the machine it booted on (Authorization: Bearer <boot token>)",
        body: EnrollmentRequestSchema,
        response: { 200: EnrollmentResponseSchema },
      },
    },
    async (request) => {
      const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
      if (match?.[1] === undefined) throw new UnauthenticatedError("a boot token is required");
      return await deps.enrollment.enroll(match[1], request.body);
    },
  );
}
