// B's release version, shown by `b --version` and exchanged in HELLO (informational; protocol
// compatibility is decided by PROTOCOL_VERSION in protocol.ts).
export const VERSION = '0.1.0';
/** The Ninja version B reports when run as `ninja --version` (CMake and Meson check it). */
export const NINJA_COMPAT_VERSION = '1.13.1';
