// Ctrl-C and SIGTERM. The first signal asks for a clean stop (the caller stops its node, which
// kills running commands and joins every thread). A second one means the user is not waiting:
// exit at once with the conventional status.

type Sig = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export function onInterrupt(stop: (sig: Sig) => void): () => void {
  let count = 0;
  const handler = (sig: Sig): void => {
    count++;
    if (count === 1) stop(sig);
    else process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  const sigs: Sig[] = process.platform === 'win32' ? ['SIGINT'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, handler);
  return () => {
    for (const s of sigs) process.off(s, handler);
  };
}
