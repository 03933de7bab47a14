# sysback login banner: warn when the last good backup is older than twice the backup interval.
# `sysback status --warn-only` prints nothing when all is well; only configured routers are checked.
if [ -r /var/lib/sysback/state.json ] && [ -x /usr/bin/sysback ] && [ -t 1 ]; then
  /usr/bin/sysback status --warn-only 2>/dev/null || true
fi
