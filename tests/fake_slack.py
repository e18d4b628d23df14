#!/usr/bin/python3
"""fake_slack — a strict fake of Slack Socket Mode and the Web API methods the
ainews Slack plugin uses, on 127.0.0.1, for end-to-end tests and benchmarks.

It serves apps.connections.open (one-shot tickets), the Socket Mode websocket
(hello, envelopes, disconnect), chat.postMessage, conversations.open and
response_url hooks, and records every protocol error it sees as a violation:
a missing or wrong Bearer token, the wrong token type, a reused or unknown
ticket, an ack later than 3 s, an ack without envelope_id or for an unknown
envelope or on another socket, an ack payload that is not an object (or on an
envelope that takes none), blocks over Slack's limits, blocks without a text
fallback, a wrong Content-Type, posting to a channel faster than about one
message per second or before a Retry-After ran out, closing the old socket
before the new one said hello after a refresh, more than two sockets at once.

Tests drive it over a control API under /_ctl/ (see tests/slack_ctl.py):
send slash commands, events, raw frames, disconnect frames, redeliveries,
drop the socket, script 429s and per-channel errors, delay every REST answer.
/_ctl/state returns everything it saw, violations first.

Run: /usr/bin/python3 tests/fake_slack.py --app-token xapp-… --bot-token xoxb-…
     [--port 0] [--tls-cert C --tls-key K]   prints "PORT n" (and "TLSPORT n").
"""
import argparse
import asyncio
import json
import re
import signal
import ssl
import sys
import time
import uuid

from aiohttp import WSMsgType, web

ACK_LIMIT_S = 3.0
PACE_MIN_S = 0.9  # "about one message per second per channel", with timer slack
MAX_SOCKETS_EXPECTED = 2
MAX_SOCKETS_SLACK = 10
TEXT_MAX = 40000
BLOCKS_MAX = 50
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BLOCK_ID_MAX = 255
CONTEXT_ELEMENTS_MAX = 10
FIELDS_MAX = 10
RESPONSE_URL_USES = 5
CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]{2,}$")
BLOCK_TYPES = {"section", "context", "divider", "header", "actions", "image", "rich_text", "input", "file",
               "video"}


def now():
    return time.monotonic()


def slack_escape(text):
    # Slack hands slash-command text to apps with & < > as entities.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Sock:
    def __init__(self, sid, ticket, request, ws):
        self.id = sid
        self.ticket = ticket
        self.request = request
        self.ws = ws
        self.opened_at = now()
        self.hello_at = None
        self.closed_at = None
        self.closed_by = None
        self.disconnect = None  # (reason, at) when we asked it to move
        self.pings = 0

    def open(self):
        return self.closed_at is None

    def info(self):
        return {"id": self.id, "ready": self.hello_at is not None, "open": self.open(),
                "closed_by": self.closed_by, "pings": self.pings, "disconnect": self.disconnect[0] if self.disconnect else None}


class Fake:
    def __init__(self, app_token, bot_token):
        self.app_token = app_token
        self.bot_token = bot_token
        self.port = 0
        self.tls_port = 0
        self.errors = []
        self.tickets = {}
        self.socks = []
        self.envs = {}
        self.env_order = []
        self.posts = []
        self.calls = []
        self.responses = []
        self.hooks = {}
        self.dms = {}
        self.dm_opens = {}
        self.chan_last = {}
        self.chan_paused = {}
        self.garbage_from_client = 0
        self.cfg = {
            "rest_delay": 0.0,      # seconds before every Web API / response_url answer
            "ratelimit": 0,         # the next N chat.postMessage calls get 429
            "retry_after": 1,       # their Retry-After
            "channel_errors": {},   # channel -> Slack error for chat.postMessage
            "open_error": None,     # apps.connections.open answers ok:false with this
            "wss": False,           # hand out wss:// URLs (needs --tls-cert)
            "ws_host": "127.0.0.1", # host in the URLs handed out
            "pong": True,           # answer the client's pings (False: a dead peer)
        }

    # ---- bookkeeping -------------------------------------------------------

    def violation(self, msg):
        self.errors.append(msg)
        print("PROTOCOL VIOLATION: " + msg, file=sys.stderr, flush=True)

    def ready_sock(self):
        """The socket new envelopes go to: the newest that said hello and is open."""
        for s in reversed(self.socks):
            if s.open() and s.hello_at is not None:
                return s
        return None

    def state(self):
        envs = []
        for eid in self.env_order:
            e = self.envs[eid]
            envs.append({"envelope_id": eid, "type": e["type"], "text": e.get("text"),
                         "deliveries": [{"sock": d["sock"], "ack_ms": d["ack_ms"], "payload": d["payload"],
                                         "lost": d["lost"]} for d in e["deliveries"]]})
        return {
            "errors": self.errors,
            "sockets": [s.info() for s in self.socks],
            "opens": sum(1 for c in self.calls if c["method"] == "apps.connections.open"),
            "calls": self.calls,
            "envelopes": envs,
            "posts": self.posts,
            "responses": self.responses,
            "dm_opens": self.dm_opens,
            "garbage_from_client": self.garbage_from_client,
            "cfg": self.cfg,
        }

    # ---- validation --------------------------------------------------------

    def check_text_obj(self, where, t, limit, allowed=("mrkdwn", "plain_text")):
        if not isinstance(t, dict):
            return self.violation("%s: text object is not an object" % where)
        if t.get("type") not in allowed:
            self.violation("%s: text type %r not allowed" % (where, t.get("type")))
        txt = t.get("text")
        if not isinstance(txt, str) or not txt:
            self.violation("%s: empty or missing text" % where)
        elif len(txt) > limit:
            self.violation("%s: text of %d characters (limit %d)" % (where, len(txt), limit))
        extra = set(t) - {"type", "text", "emoji", "verbatim"}
        if extra:
            self.violation("%s: unknown text object keys %s" % (where, sorted(extra)))

    def check_blocks(self, where, blocks):
        if not isinstance(blocks, list) or not blocks:
            return self.violation("%s: blocks is not a non-empty array" % where)
        if len(blocks) > BLOCKS_MAX:
            self.violation("%s: %d blocks (limit %d)" % (where, len(blocks), BLOCKS_MAX))
        for i, b in enumerate(blocks):
            w = "%s.blocks[%d]" % (where, i)
            if not isinstance(b, dict):
                self.violation("%s: not an object" % w)
                continue
            typ = b.get("type")
            if typ not in BLOCK_TYPES:
                self.violation("%s: unknown block type %r" % (w, typ))
            if "block_id" in b and (not isinstance(b["block_id"], str) or len(b["block_id"]) > BLOCK_ID_MAX):
                self.violation("%s: bad block_id" % w)
            if typ == "section":
                if "text" not in b and "fields" not in b:
                    self.violation("%s: section without text or fields" % w)
                if "text" in b:
                    self.check_text_obj(w + ".text", b["text"], SECTION_TEXT_MAX)
                if "fields" in b:
                    f = b["fields"]
                    if not isinstance(f, list) or not f or len(f) > FIELDS_MAX:
                        self.violation("%s: fields must be 1..%d items" % (w, FIELDS_MAX))
                    else:
                        for j, t in enumerate(f):
                            self.check_text_obj("%s.fields[%d]" % (w, j), t, FIELD_TEXT_MAX)
                extra = set(b) - {"type", "text", "fields", "accessory", "block_id"}
            elif typ == "context":
                el = b.get("elements")
                if not isinstance(el, list) or not el or len(el) > CONTEXT_ELEMENTS_MAX:
                    self.violation("%s: context elements must be 1..%d items" % (w, CONTEXT_ELEMENTS_MAX))
                else:
                    for j, e in enumerate(el):
                        if isinstance(e, dict) and e.get("type") == "image":
                            if not e.get("image_url") or not e.get("alt_text"):
                                self.violation("%s.elements[%d]: image without url/alt_text" % (w, j))
                        else:
                            self.check_text_obj("%s.elements[%d]" % (w, j), e, SECTION_TEXT_MAX)
                extra = set(b) - {"type", "elements", "block_id"}
            elif typ == "header":
                self.check_text_obj(w + ".text", b.get("text"), HEADER_TEXT_MAX, ("plain_text",))
                extra = set(b) - {"type", "text", "block_id"}
            elif typ == "divider":
                extra = set(b) - {"type", "block_id"}
            else:
                extra = set()
            if extra:
                self.violation("%s: unknown keys %s" % (w, sorted(extra)))

    def check_message(self, where, m, reply=False):
        """A chat.postMessage body or a slash-command reply (ack payload, response_url)."""
        text = m.get("text")
        if "blocks" in m:
            self.check_blocks(where, m["blocks"])
            if not isinstance(text, str) or not text.strip():
                self.violation("%s: blocks without a text fallback" % where)
        elif not isinstance(text, str) or not text:
            self.violation("%s: neither text nor blocks" % where)
        if isinstance(text, str) and len(text) > TEXT_MAX:
            self.violation("%s: text of %d characters (Slack truncates at %d)" % (where, len(text), TEXT_MAX))
        if reply:
            if m.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
                self.violation("%s: bad response_type %r" % (where, m.get("response_type")))
            extra = set(m) - {"text", "blocks", "response_type", "replace_original", "delete_original",
                              "thread_ts", "mrkdwn"}
            if extra:
                self.violation("%s: unknown reply keys %s" % (where, sorted(extra)))
        for k in ("unfurl_links", "unfurl_media", "mrkdwn"):
            if k in m and not isinstance(m[k], bool):
                self.violation("%s: %s is not a boolean" % (where, k))

    def content_type(self, request):
        ct = request.headers.get("Content-Type", "")
        parts = [p.strip().lower() for p in ct.split(";")]
        return parts[0], [p for p in parts[1:] if p]

    # ---- the Web API -------------------------------------------------------

    async def api(self, request):
        method = request.match_info["method"]
        raw = await request.read()
        call = {"method": method, "t": time.time(), "status": 200}
        self.calls.append(call)
        if self.cfg["rest_delay"]:
            await asyncio.sleep(self.cfg["rest_delay"])
        want = self.app_token if method == "apps.connections.open" else self.bot_token
        auth = request.headers.get("Authorization")
        mime, params = self.content_type(request)
        body = {}
        if raw:
            if mime == "application/json":
                if "charset=utf-8" not in params:
                    self.violation("%s: JSON body without charset=utf-8" % method)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self.violation("%s: body is not JSON" % method)
                    return web.json_response({"ok": False, "error": "invalid_json"})
                if not isinstance(body, dict):
                    self.violation("%s: JSON body is not an object" % method)
                    return web.json_response({"ok": False, "error": "invalid_json"})
            elif mime == "application/x-www-form-urlencoded":
                try:
                    body = dict(x.split("=", 1) for x in raw.decode().split("&") if "=" in x)
                except UnicodeDecodeError:
                    body = {}
            else:
                self.violation("%s: wrong Content-Type %r" % (method, request.headers.get("Content-Type")))
                return web.json_response({"ok": False, "error": "invalid_form_data"})
        elif mime not in ("application/x-www-form-urlencoded", "application/json"):
            self.violation("%s: wrong Content-Type %r" % (method, request.headers.get("Content-Type")))
        if "token" in body:
            self.violation("%s: token sent in the body (must be the Authorization header)" % method)
        if not auth:
            self.violation("%s: no Authorization header" % method)
            return web.json_response({"ok": False, "error": "not_authed"})
        if auth != "Bearer " + want:
            other = self.bot_token if want == self.app_token else self.app_token
            if auth == "Bearer " + other:
                self.violation("%s: called with the wrong token type" % method)
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            self.violation("%s: wrong Bearer token" % method)
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = {"apps.connections.open": self.connections_open, "chat.postMessage": self.post_message,
                   "conversations.open": self.conversations_open}.get(method)
        if not handler:
            self.violation("unexpected Web API method %s" % method)
            return web.json_response({"ok": False, "error": "unknown_method"})
        resp = handler(body)
        call["status"] = resp.status
        return resp

    def connections_open(self, body):
        if body:
            self.violation("apps.connections.open takes no arguments, got %s" % sorted(body))
        if self.cfg["open_error"]:
            return web.json_response({"ok": False, "error": self.cfg["open_error"]})
        ticket = uuid.uuid4().hex
        self.tickets[ticket] = {"used": False}
        if self.cfg["wss"] and self.tls_port:
            url = "wss://localhost:%d/link/?ticket=%s&app_id=A0FAKE" % (self.tls_port, ticket)
        else:
            url = "ws://%s:%d/link/?ticket=%s&app_id=A0FAKE" % (self.cfg["ws_host"], self.port, ticket)
        return web.json_response({"ok": True, "url": url})

    def post_message(self, body):
        ch = body.get("channel")
        t = now()
        if not isinstance(ch, str) or not CHANNEL_RE.match(ch):
            self.violation("chat.postMessage: bad channel %r" % (ch,))
            return web.json_response({"ok": False, "error": "channel_not_found"})
        paused = self.chan_paused.get(ch)
        if paused and t < paused - 0.05:
            self.violation("chat.postMessage to %s %.0f ms before its Retry-After ran out" % (ch, (paused - t) * 1000))
        last = self.chan_last.get(ch)
        if last is not None and t - last < PACE_MIN_S:
            self.violation("chat.postMessage to %s %.0f ms after the previous one (pace ~1/s)" % (ch, (t - last) * 1000))
        self.chan_last[ch] = t
        if self.cfg["ratelimit"] > 0:
            self.cfg["ratelimit"] -= 1
            ra = self.cfg["retry_after"]
            self.chan_paused[ch] = t + ra
            self.calls[-1]["status"] = 429
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(ra)})
        self.check_message("chat.postMessage", body)
        for k in ("unfurl_links", "unfurl_media"):
            if k not in body:
                self.violation("chat.postMessage: %s not set (alerts must not unfurl)" % k)
        err = self.cfg["channel_errors"].get(ch)
        if err:
            return web.json_response({"ok": False, "error": err})
        if "thread_ts" in body and not any(p["channel"] == ch and p["ts"] == body["thread_ts"] for p in self.posts):
            return web.json_response({"ok": False, "error": "thread_not_found"})
        ts = "%d.%06d" % (int(time.time()), len(self.posts) + 1)
        self.posts.append({"channel": ch, "ts": ts, "t": time.time(), "text": body.get("text"),
                           "blocks": body.get("blocks"), "thread_ts": body.get("thread_ts"),
                           "unfurl_links": body.get("unfurl_links"), "unfurl_media": body.get("unfurl_media")})
        return web.json_response({"ok": True, "channel": ch, "ts": ts, "message": {"text": body.get("text")}})

    def conversations_open(self, body):
        users = body.get("users")
        if not isinstance(users, str) or not re.match(r"^[UW][A-Z0-9]+$", users):
            self.violation("conversations.open: bad users %r" % (users,))
            return web.json_response({"ok": False, "error": "user_not_found"})
        self.dm_opens[users] = self.dm_opens.get(users, 0) + 1
        d = self.dms.setdefault(users, "D" + users[1:])
        return web.json_response({"ok": True, "channel": {"id": d}})

    async def response_url(self, request):
        hid = request.match_info["hid"]
        raw = await request.read()
        if self.cfg["rest_delay"]:
            await asyncio.sleep(self.cfg["rest_delay"])
        hook = self.hooks.get(hid)
        if not hook:
            self.violation("response_url %s is unknown" % hid)
            return web.Response(status=404, text="no_such_hook")
        hook["uses"] += 1
        if hook["uses"] > RESPONSE_URL_USES:
            self.violation("response_url of %s used %d times (limit %d)" % (hook["eid"], hook["uses"],
                                                                          RESPONSE_URL_USES))
        mime, _ = self.content_type(request)
        if mime != "application/json":
            self.violation("response_url: wrong Content-Type %r" % request.headers.get("Content-Type"))
            return web.Response(status=400, text="invalid_payload")
        try:
            body = json.loads(raw)
        except ValueError:
            self.violation("response_url: body is not JSON")
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            self.violation("response_url: body is not an object")
            return web.Response(status=400, text="invalid_payload")
        self.check_message("response_url", body, reply=True)
        self.responses.append({"envelope_id": hook["eid"], "t": time.time(), "body": body})
        return web.Response(text="ok")

    # ---- the websocket -----------------------------------------------------

    async def link(self, request):
        ticket = request.query.get("ticket")
        info = self.tickets.get(ticket)
        if not info:
            self.violation("websocket with an unknown ticket")
            return web.Response(status=401, text="invalid ticket")
        if info["used"]:
            self.violation("websocket ticket reused (get a fresh URL for every connect)")
            return web.Response(status=401, text="ticket already used")
        info["used"] = True
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        s = Sock(len(self.socks), ticket, request, ws)
        self.socks.append(s)
        n_open = sum(1 for x in self.socks if x.open())
        if n_open > MAX_SOCKETS_EXPECTED:
            self.violation("%d sockets open at once (expected at most %d)" % (n_open, MAX_SOCKETS_EXPECTED))
        if n_open > MAX_SOCKETS_SLACK:
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "too_many_websockets"}))
        await ws.send_str(json.dumps({"type": "hello", "num_connections": n_open,
                                      "debug_info": {"host": "applink-fake-%d" % s.id, "build_number": 1,
                                                     "approximate_connection_time": 3600},
                                      "connection_info": {"app_id": "A0FAKE"}}))
        s.hello_at = now()
        closed_by = "client"
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.on_client_frame(s, msg.data)
                elif msg.type == WSMsgType.PING:
                    s.pings += 1
                    if self.cfg["pong"]:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    pass
                elif msg.type == WSMsgType.BINARY:
                    self.violation("socket %d: client sent a binary frame" % s.id)
                elif msg.type == WSMsgType.ERROR:
                    closed_by = "error"
                    break
        finally:
            if s.closed_by is None:
                s.closed_by = closed_by
            s.closed_at = now()
            self.on_sock_closed(s)
        return ws

    def on_sock_closed(self, s):
        for e in self.envs.values():
            for d in e["deliveries"]:
                if d["sock"] == s.id and d["ack_ms"] is None:
                    d["lost"] = True
        if s.closed_by == "client" and s.disconnect and s.disconnect[0] in ("refresh_requested", "warning"):
            newer = [x for x in self.socks if x.id > s.id and x.hello_at is not None]
            if not newer:
                self.violation("socket %d closed by the client after %s before a new socket was ready"
                               % (s.id, s.disconnect[0]))

    def on_client_frame(self, s, data):
        t = now()
        try:
            m = json.loads(data)
        except ValueError:
            self.garbage_from_client += 1
            return self.violation("socket %d: client sent a frame that is not JSON: %r" % (s.id, data[:80]))
        if not isinstance(m, dict):
            return self.violation("socket %d: client frame is not an object" % s.id)
        eid = m.get("envelope_id")
        if not isinstance(eid, str) or not eid:
            return self.violation("socket %d: ack without envelope_id: %s" % (s.id, data[:200]))
        extra = set(m) - {"envelope_id", "payload"}
        if extra:
            self.violation("ack %s: unknown keys %s" % (eid, sorted(extra)))
        e = self.envs.get(eid)
        if not e:
            return self.violation("ack for unknown envelope %s" % eid)
        pending = [d for d in e["deliveries"] if d["ack_ms"] is None and not d["lost"]]
        if not pending:
            return self.violation("envelope %s acked more often than delivered" % eid)
        d = pending[0]
        if d["sock"] != s.id:
            self.violation("envelope %s sent on socket %d but acked on socket %d" % (eid, d["sock"], s.id))
        d["ack_ms"] = round((t - d["sent_at"]) * 1000, 3)
        if t - d["sent_at"] > ACK_LIMIT_S:
            self.violation("envelope %s acked after %.0f ms (limit 3000)" % (eid, d["ack_ms"]))
        if "payload" in m:
            p = m["payload"]
            d["payload"] = p
            if not isinstance(p, dict):
                self.violation("ack %s: payload is not an object" % eid)
            elif not e["body"].get("accepts_response_payload"):
                self.violation("ack %s: payload on an envelope that accepts none" % eid)
            else:
                self.check_message("ack %s payload" % eid, p, reply=True)

    async def send_envelope(self, s, typ, payload, accepts, eid=None):
        eid = eid or str(uuid.uuid4())
        body = {"type": typ, "envelope_id": eid, "payload": payload, "accepts_response_payload": accepts}
        if typ == "events_api":
            body["retry_attempt"] = 0
            body["retry_reason"] = ""
        self.envs[eid] = {"type": typ, "body": body, "deliveries": [], "text": payload.get("text")}
        self.env_order.append(eid)
        await self.deliver(s, eid)
        return eid

    async def deliver(self, s, eid):
        e = self.envs[eid]
        d = {"sock": s.id, "sent_at": now(), "ack_ms": None, "payload": None, "lost": False}
        e["deliveries"].append(d)
        await s.ws.send_str(json.dumps(e["body"]))

    def slash_payload(self, text, user, channel):
        hid = uuid.uuid4().hex
        return hid, {
            "token": "legacy-verification-token", "team_id": "T0FAKE", "team_domain": "fake",
            "channel_id": channel, "channel_name": "chan", "user_id": user, "user_name": "someone",
            "command": "/ainews", "text": slack_escape(text), "api_app_id": "A0FAKE",
            "is_enterprise_install": "false",
            "response_url": "http://127.0.0.1:%d/hooks/commands/T0FAKE/%s" % (self.port, hid),
            "trigger_id": "%d.%s" % (int(time.time()), hid[:8]),
        }

    async def send_slash(self, s, text, user, channel):
        hid, payload = self.slash_payload(text, user, channel)
        eid = str(uuid.uuid4())
        self.hooks[hid] = {"uses": 0, "eid": eid}
        await self.send_envelope(s, "slash_commands", payload, True, eid)
        return eid

    async def watchdog(self):
        """Unacked envelopes past 3 s are violations (once each)."""
        while True:
            await asyncio.sleep(0.1)
            t = now()
            for eid, e in self.envs.items():
                for d in e["deliveries"]:
                    if d["ack_ms"] is None and not d["lost"] and not d.get("late") and t - d["sent_at"] > ACK_LIMIT_S:
                        d["late"] = True
                        self.violation("envelope %s not acked within 3 s" % eid)
            for s in self.socks:
                # Slack cuts a socket some seconds after asking it to move.
                if s.open() and s.disconnect and t - s.disconnect[1] > 10:
                    s.closed_by = "server"
                    await s.ws.close()

    # ---- control ------------------------------------------------------------

    async def ctl(self, request):
        what = request.match_info["what"]
        body = {}
        if request.can_read_body:
            body = await request.json()
        if what == "state":
            return web.json_response(self.state())
        if what == "config":
            self.cfg.update(body)
            return web.json_response(self.cfg)
        if what == "reset":
            self.errors.clear()
            return web.json_response({"ok": True})
        s = self.socks[body["sock"]] if "sock" in body else self.ready_sock()
        if what == "burst":
            return web.json_response(await self.burst(body))
        if not s or not s.open():
            return web.json_response({"error": "no open socket"}, status=409)
        if what == "slash":
            eid = await self.send_slash(s, body.get("text", ""), body.get("user", "U0USER"),
                                        body.get("channel", "C0GENERAL"))
            return web.json_response({"envelope_id": eid, "sock": s.id})
        if what == "event":
            ev = {"token": "x", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback",
                  "event_id": body.get("event_id", "Ev" + uuid.uuid4().hex[:10].upper()),
                  "event_time": int(time.time()), "event": {"type": "app_home_opened", "user": "U0USER"}}
            if "pad" in body:  # a large frame: lws hands it over in pieces
                ev["event"]["pad"] = "x" * int(body["pad"])
            eid = await self.send_envelope(s, "events_api", ev, False)
            return web.json_response({"envelope_id": eid, "event_id": ev["event_id"]})
        if what == "redeliver":
            eid = body["envelope_id"]
            e = self.envs[eid]
            if "retry_attempt" in e["body"]:
                e["body"]["retry_attempt"] += 1
                e["body"]["retry_reason"] = "timeout"
            await self.deliver(s, eid)
            return web.json_response({"envelope_id": eid})
        if what == "raw":
            if "binary" in body:
                await s.ws.send_bytes(body["binary"].encode())
            else:
                await s.ws.send_str(body["text"])
            return web.json_response({"ok": True})
        if what == "disconnect":
            s.disconnect = (body.get("reason", "refresh_requested"), now())
            await s.ws.send_str(json.dumps({"type": "disconnect", "reason": s.disconnect[0],
                                            "debug_info": {"host": "applink-fake-%d" % s.id}}))
            return web.json_response({"ok": True, "sock": s.id})
        if what == "drop":
            s.closed_by = "drop"
            s.request.transport.abort()
            return web.json_response({"ok": True, "sock": s.id})
        return web.json_response({"error": "unknown control " + what}, status=404)

    async def burst(self, body):
        """n slash commands, interval_ms apart, on whichever socket is ready
        at each moment; optionally a disconnect frame before command
        disconnect_at. Waits for every ack (and response_url reply for
        empty acks) up to timeout; returns per-command results and stats."""
        n = int(body.get("n", 100))
        interval = float(body.get("interval_ms", 5)) / 1000
        texts = body.get("texts") or ["help"]
        user = body.get("user", "U0BENCH")
        channel = body.get("channel", "C0BENCH")
        eids = []
        t_next = now()
        for i in range(n):
            if body.get("disconnect_at") == i:
                s = self.ready_sock()
                if s:
                    s.disconnect = (body.get("reason", "refresh_requested"), now())
                    await s.ws.send_str(json.dumps({"type": "disconnect", "reason": s.disconnect[0]}))
            s = self.ready_sock()
            while not s:
                await asyncio.sleep(0.005)
                s = self.ready_sock()
            eids.append(await self.send_slash(s, texts[i % len(texts)], user, channel))
            t_next += interval
            delay = t_next - now()
            if delay > 0:
                await asyncio.sleep(delay)
        deadline = now() + float(body.get("timeout", 30))

        def done(eid):
            d = self.envs[eid]["deliveries"]
            if not any(x["ack_ms"] is not None for x in d):
                return False
            if any(x["payload"] for x in d):
                return True
            return any(r["envelope_id"] == eid for r in self.responses)

        while now() < deadline and not all(done(e) for e in eids):
            await asyncio.sleep(0.01)
        lat = sorted(x["ack_ms"] for e in eids for x in self.envs[e]["deliveries"][:1] if x["ack_ms"] is not None)

        def pct(p):
            if not lat:
                return None
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]

        return {"sent": n, "acked": len(lat), "answered": sum(1 for e in eids if done(e)),
                "inline": sum(1 for e in eids if any(x["payload"] for x in self.envs[e]["deliveries"])),
                "via_response_url": sum(1 for e in eids if any(r["envelope_id"] == e for r in self.responses)),
                "sockets_used": sorted(set(self.envs[e]["deliveries"][0]["sock"] for e in eids)),
                "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": lat[-1] if lat else None,
                "envelope_ids": eids}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app-token", required=True)
    ap.add_argument("--bot-token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()
    fake = Fake(a.app_token, a.bot_token)
    app = web.Application(client_max_size=4 << 20)
    app.router.add_post("/api/{method}", fake.api)
    app.router.add_get("/link/", fake.link)
    app.router.add_post("/hooks/commands/T0FAKE/{hid}", fake.response_url)
    app.router.add_route("*", "/_ctl/{what}", fake.ctl)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", a.port)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]
    print("PORT %d" % fake.port, flush=True)
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        tls_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await tls_site.start()
        fake.tls_port = tls_site._server.sockets[0].getsockname()[1]
        print("TLSPORT %d" % fake.tls_port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    dog = asyncio.ensure_future(fake.watchdog())
    await stop.wait()
    dog.cancel()
    print("fake_slack: %d violation(s), %d post(s), %d socket(s)" % (len(fake.errors), len(fake.posts),
                                                                     len(fake.socks)), file=sys.stderr)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
