#!/usr/bin/python3
"""slack_ctl — drive tests/fake_slack.py from shell tests (stdlib only).

  slack_ctl.py PORT state [EXPR]        print the state JSON, or EXPR over it (s = state)
  slack_ctl.py PORT wait EXPR [SECS]    poll until EXPR over the state is true; exit 1 on timeout
  slack_ctl.py PORT config JSON         merge JSON into the fake's scripting config
  slack_ctl.py PORT slash TEXT [USER [CHANNEL [SECS]]]
                                        send a slash command, wait for its ack (and, for an empty
                                        ack, its response_url reply); print one JSON result:
                                        {envelope_id, ack_ms, inline, text, response_type, blocks}
  slack_ctl.py PORT do WHAT [JSON]      POST JSON to /_ctl/WHAT, print the answer
"""
import json
import sys
import time
import urllib.error
import urllib.request


def call(port, what, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%s/_ctl/%s" % (port, what), data=data,
                                 headers={"Content-Type": "application/json"} if data else {},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def evaluate(expr, s):
    return eval(expr, {"s": s, "len": len, "any": any, "all": all, "sum": sum, "set": set, "sorted": sorted})


def reply_of(s, eid):
    """(ack_ms, inline payload or None, response_url body or None) for the first delivery."""
    for e in s["envelopes"]:
        if e["envelope_id"] == eid:
            d = e["deliveries"][0]
            resp = next((r["body"] for r in s["responses"] if r["envelope_id"] == eid), None)
            return d["ack_ms"], d["payload"], resp
    return None, None, None


def main():
    port, cmd = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    if cmd == "state":
        s = call(port, "state")
        print(json.dumps(evaluate(args[0], s) if args else s, ensure_ascii=False))
    elif cmd == "wait":
        limit = time.monotonic() + float(args[1] if len(args) > 1 else 10)
        while True:
            s = call(port, "state")
            v = evaluate(args[0], s)
            if v:
                break
            if time.monotonic() > limit:
                print("timed out waiting for: %s (last: %r)" % (args[0], v), file=sys.stderr)
                sys.exit(1)
            time.sleep(0.05)
    elif cmd == "config":
        print(json.dumps(call(port, "config", json.loads(args[0]))))
    elif cmd == "slash":
        text = args[0]
        user = args[1] if len(args) > 1 else "U0USER"
        channel = args[2] if len(args) > 2 else "C0GENERAL"
        limit = time.monotonic() + float(args[3] if len(args) > 3 else 10)
        r = call(port, "slash", {"text": text, "user": user, "channel": channel})
        if "envelope_id" not in r:
            print(json.dumps({"error": r.get("error")}))
            sys.exit(1)
        eid = r["envelope_id"]
        while True:
            ack_ms, payload, resp = reply_of(call(port, "state"), eid)
            if ack_ms is not None and (payload or resp):
                break
            if time.monotonic() > limit:
                break
            time.sleep(0.02)
        msg = payload or resp or {}
        print(json.dumps({"envelope_id": eid, "ack_ms": ack_ms, "inline": bool(payload),
                          "text": msg.get("text"), "response_type": msg.get("response_type"),
                          "blocks": len(msg.get("blocks") or [])}, ensure_ascii=False))
    elif cmd == "do":
        print(json.dumps(call(port, args[0], json.loads(args[1]) if len(args) > 1 else {}), ensure_ascii=False))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
