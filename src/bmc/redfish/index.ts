export { createRedfishDriver, RedfishDriver, type RedfishDriverOptions } from "./driver.ts";
export { normalizeFingerprint } from "./tls.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./transport.ts";
