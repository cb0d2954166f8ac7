# CRASH=1 (build-arg or env) makes the service fail at start, for crash-loop tests.
if [ "$CRASH" = "1" ]; then
  echo "sample-api: CRASH=1, exiting with status 1" >&2
  exit 1
fi
# Exit at once on SIGTERM (graceful pod deletion), as a well-behaved service does; the sleep
# runs in the background so the trap is not held up by it.
trap 'echo "sample-api: SIGTERM, exiting"; exit 0' TERM
while true; do
  echo "sample-api ${VERSION:-unknown} alive"
  sleep 5 &
  wait $!
done
