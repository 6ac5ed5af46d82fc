import { Type } from "typebox";

/** What the API accepts as a MAC address: colon or dash separated, or 12 bare hex digits, any case. */
export const MAC_INPUT_PATTERN = "^([0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{12})$";

export const MacInputSchema = Type.String({
  pattern: MAC_INPUT_PATTERN,
  description:
    "MAC address; aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF and aabbccddeeff are accepted and stored lower case with colons",
});

export const MacAddressOutput = Type.String({
  pattern: "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$",
  description: "MAC address, lower case, colon separated",
});

const MAC_INPUT = new RegExp(MAC_INPUT_PATTERN);

/** `AA-BB-CC-DD-EE-FF` → `aa:bb:cc:dd:ee:ff`; undefined when the text is not a MAC address. */
export function normalizeMac(text: string): string | undefined {
  const trimmed = text.trim();
  if (!MAC_INPUT.test(trimmed)) return undefined;
  const hex = trimmed.replace(/[:-]/g, "").toLowerCase();
  return hex.match(/../g)?.join(":");
}

/** For input that the route schema already checked against MAC_INPUT_PATTERN. */
export function canonicalMac(text: string): string {
  const mac = normalizeMac(text);
  if (mac === undefined) throw new Error(`not a MAC address: ${text}`);
  return mac;
}
