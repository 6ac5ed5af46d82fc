import packageJson from "../package.json" with { type: "json" };

/** The agent ships with the server it was built with, so it carries the same version. */
export const AGENT_VERSION: string = packageJson.version;
