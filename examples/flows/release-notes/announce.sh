#!/bin/sh
# Command step: the context JSON arrives on stdin; runtime ids arrive as env vars.
context=$(cat)
echo "announcing event ${CODEX_FLOW_EVENT_ID} (run ${CODEX_FLOW_RUN_ID:-none}, replay ${CODEX_FLOW_REPLAY})"
echo "context bytes: $(printf '%s' "$context" | wc -c)"
echo 'FLOW_RESULT {"status":"changed","message":"release announced","artifacts":["#releases"]}'
