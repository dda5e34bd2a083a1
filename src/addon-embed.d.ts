// Types of the virtual module that scripts/build.ts provides to bundles (see src/addon.ts).
declare module 'b:addon' {
  export const sha256: string;
  export const base64: string;
  export const platform: string;
}
