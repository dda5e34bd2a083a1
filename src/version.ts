// B's release version, shown by `b --version` and exchanged in HELLO (informational; protocol
// compatibility is decided by PROTOCOL_VERSION in protocol.ts).
export const VERSION = '0.1.0';
/**
 * The Ninja version B reports when run as `ninja --version` (CMake and Meson check it): the one
 * whose manifest format the parser implements, so there is a single constant.
 */
export { NINJA_VERSION as NINJA_COMPAT_VERSION } from './ninja-parser.ts';
