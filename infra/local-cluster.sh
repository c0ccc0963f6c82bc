#!/usr/bin/env bash
# A standalone Spark cluster on this machine (one master, one worker), from the pyspark wheel's own scripts:
#   infra/local-cluster.sh start        # prints the master URL to use as --master / spark.master
#   infra/local-cluster.sh stop
# Jobs then run against it with:  lakehouse --home ... ingest ./docs --master spark://127.0.0.1:7077
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
SPARK_HOME=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
STATE=${LAKEHOUSE_HOME:-.lakehouse}/state/spark-cluster
PORT=${SPARK_MASTER_PORT:-7077}
CORES=${SPARK_WORKER_CORES:-2}
MEMORY=${SPARK_WORKER_MEMORY:-6g}
mkdir -p "$STATE"

start() {
  local cp="$SPARK_HOME/jars/*"
  nohup java -cp "$cp" -Xmx1g org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$PORT" \
    --webui-port 8080 >"$STATE/master.log" 2>&1 &
  echo $! >"$STATE/master.pid"
  for _ in $(seq 1 30); do grep -q "I have been elected leader" "$STATE/master.log" 2>/dev/null && break; sleep 1; done
  # Workers run Python UDFs with this virtualenv's interpreter.
  PYSPARK_PYTHON="$PWD/$VENV/bin/python" nohup java -cp "$cp" -Xmx1g org.apache.spark.deploy.worker.Worker \
    --cores "$CORES" --memory "$MEMORY" --host 127.0.0.1 "spark://127.0.0.1:$PORT" >"$STATE/worker.log" 2>&1 &
  echo $! >"$STATE/worker.pid"
  for _ in $(seq 1 30); do grep -q "Successfully registered with master" "$STATE/worker.log" 2>/dev/null && break; sleep 1; done
  grep -q "Successfully registered with master" "$STATE/worker.log" || { echo "worker did not register; see $STATE/worker.log" >&2; exit 1; }
  echo "spark://127.0.0.1:$PORT"
}

stop() {
  for role in worker master; do
    if [ -f "$STATE/$role.pid" ]; then kill "$(cat "$STATE/$role.pid")" 2>/dev/null || true; rm -f "$STATE/$role.pid"; fi
  done
  echo "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
