// Owns redaction: nothing that leaves sysback for a log, the journal or an error message may carry a
// Tahoe capability, a password or another secret. Contract: `redact(text, secrets)` replaces every
// given secret and every Tahoe cap (URI:...) with a marker that keeps the cap's kind for debugging.

const CAP = /\bURI:[A-Z0-9-]+:[A-Za-z0-9:._-]+/g;

export function redactCaps(text: string): string {
  return text.replace(CAP, (cap) => `${cap.split(':').slice(0, 2).join(':')}:<redacted>`);
}

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 3) out = out.split(secret).join('<secret>');
  }
  return redactCaps(out);
}
