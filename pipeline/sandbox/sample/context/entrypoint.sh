# CRASH=1 (build-arg or env) makes the service fail at start, for crash-loop tests.
if [ "$CRASH" = "1" ]; then
  echo "sample-api: CRASH=1, exiting with status 1" >&2
  exit 1
fi
while true; do
  echo "sample-api ${VERSION:-unknown} alive"
  sleep 5
done
