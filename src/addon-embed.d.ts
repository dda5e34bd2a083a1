// Types of the virtual module that scripts/build.ts provides to bundles (see src/addon.ts).
declare module 'b:addon' {
  export const sha256: string;
  /** The addon's bytes: read from the executable's SEA assets, or decoded from base64 in b.cjs. */
  export function addonBytes(): Buffer;
  export const platform: string;
}
