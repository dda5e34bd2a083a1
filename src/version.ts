// B's release version, shown by `b --version` and exchanged in HELLO (informational; protocol
// compatibility is decided by PROTOCOL_VERSION in protocol.ts).
export const VERSION = '0.1.0';
// The Ninja version B reports as `ninja --version` is NINJA_VERSION in ninja-parser.ts. It is not
// re-exported here: every command imports this file, and a re-export would load the Ninja
// parser and lexer (their tables) at every start, `b --version` included.
