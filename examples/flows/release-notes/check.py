"""Command step: reads the context from stdin and reports a FLOW_RESULT."""
import json
import sys

context = json.load(sys.stdin)
payload = context["flow"]["event"]["payload"]
tag = payload["tag"]
if "rc" in tag:
    result = {"status": "blocked", "message": f"{tag} is a release candidate: waiting for the final release"}
else:
    result = {"status": "completed", "message": f"{payload['repo']} {tag} is a final release"}
print("checked", tag, "replay" if context["runtime"]["replay"] else "first run")
print("FLOW_RESULT " + json.dumps(result))
