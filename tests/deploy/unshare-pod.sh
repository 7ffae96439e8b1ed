# The init of an unshare'd PID namespace, standing in for a Pod's pause container
# (scripts/test-deploy unshare). It starts sidewatch and the application, both as uid 65532,
# restarts the application when it exits (as the kubelet does), and on SIGUSR1 stops it so
# that it restarts. Environment: SW, BUSYBOX, DIR, SW_PORT, APP_PORT.
set -u
# `as_app CMD &` runs in a subshell that exec's CMD, so $! is the process itself.
as_app() { exec setpriv --reuid=65532 --regid=65532 --clear-groups --inh-caps=-all "$@"; }
stop="" app=""
trap 'kill -TERM "$app" 2>/dev/null' USR1
trap 'stop=1; kill -TERM "$app" "$sw" 2>/dev/null' TERM INT
POD_NAMESPACE=unshare POD_NAME=unshare APP_CONTAINER=app \
  as_app "$SW" --config="$DIR/config/sidewatch.yml" --web.listen-address "127.0.0.1:$SW_PORT" \
  --interval 500ms &
sw=$!
while [ -z "$stop" ]; do
  # exec via busybox: the command line is `busybox httpd -f ...`, as the shipped config expects.
  as_app "$BUSYBOX" httpd -f -p "127.0.0.1:$APP_PORT" -h "$DIR/www" &
  app=$!
  echo "app started: pid $app"
  while kill -0 "$app" 2>/dev/null; do wait "$app"; done
  sleep 0.2
done
wait "$sw"
