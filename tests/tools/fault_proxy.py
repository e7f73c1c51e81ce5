#!/usr/bin/env python3
"""A reverse proxy in front of a test registry that misbehaves on purpose.

usage: fault_proxy.py --upstream http://127.0.0.1:5000 --port-file FILE [options]

  --fail-first N       answer 500 to the first N requests (any path)
  --throttle N         answer --throttle-status (default 429) to the first N
                       requests, with the header of --retry-after if given
  --throttle-status S  the status --throttle answers (429 or 503)
  --retry-after V      the Retry-After header --throttle sends: a number of
                       seconds, or `date+S` for an HTTP date S seconds ahead
  --bearer TOKEN       ask for a bearer token, as registries with a token
                       service do: requests without `Authorization: Bearer
                       TOKEN` get 401 with a Bearer challenge whose realm is
                       this proxy's /token, which hands out TOKEN
  --corrupt DIGEST     flip a byte in the body of blob DIGEST
  --cut DIGEST         on the first --cut-times GETs of blob DIGEST, send the
                       headers (with the full Content-Length) and only the
                       first --cut-at fraction of the body, then close the
                       connection
  --cut-at F           the fraction of each cut answer's body sent (0.9)
  --cut-times K        how many answers are cut (1; -1 for every one)
  --ignore-range       drop Range headers, as a registry that ignores them
                       (it answers 200 and the whole blob)
  --delay-blobs MS     wait MS milliseconds before answering each blob GET
  --delay MS           wait MS milliseconds before answering any request, as
                       a registry or file server a network round trip away
  --fail-path S        answer 500 to every request whose method and path
                       (`PUT /v2/...`) contain S, however often it is retried
  --refuse-mount       drop `mount` and `from` from upload POSTs, as a
                       registry that refuses cross-repository mounts does
                       (it answers 202 and starts a plain upload)
  --log FILE           append one line per request, tab-separated:
                       TIME METHOD PATH STATUS RANGE SENT RETRY-AFTER
                       (TIME: seconds since the epoch when the request came
                       in; RANGE: its Range header or -; SENT: body bytes
                       sent; RETRY-AFTER: the header sent or -)

Otherwise Range headers are passed upstream as they come (Debian's docker-registry
answers them with 206), so a cut download can be resumed through the proxy.
It listens on 127.0.0.1 on a free port and writes the port to --port-file.
"""
import argparse
import email.utils
import http.client
import http.server
import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--throttle", type=int, default=0)
ap.add_argument("--throttle-status", type=int, default=429)
ap.add_argument("--retry-after", default="")
ap.add_argument("--bearer", default="")
ap.add_argument("--corrupt", default="")
ap.add_argument("--cut", default="")
ap.add_argument("--cut-at", type=float, default=0.9)
ap.add_argument("--cut-times", type=int, default=1)
ap.add_argument("--ignore-range", action="store_true")
ap.add_argument("--delay-blobs", type=int, default=0)
ap.add_argument("--delay", type=int, default=0)
ap.add_argument("--fail-path", default="")
ap.add_argument("--refuse-mount", action="store_true")
ap.add_argument("--log", default="")
args = ap.parse_args()
up = urllib.parse.urlparse(args.upstream)
lock = threading.Lock()
state = {"failed": 0, "throttled": 0, "cut": 0}

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


def retry_after_value():
    v = args.retry_after
    if v.startswith("date+"):
        return email.utils.formatdate(time.time() + float(v[5:]), usegmt=True)
    return v


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, status, sent=0, retry_after=""):
        if args.log:
            rng = self.headers.get("Range") or "-"
            line = "\t".join([f"{self.started:.6f}", self.command, self.path, str(status), rng, str(sent), retry_after or "-"])
            with lock, open(args.log, "a") as f:
                f.write(line + "\n")

    def answer(self, status, msg, extra=()):
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(msg)

    def handle_any(self):
        self.started = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with lock:
            fail = state["failed"] < args.fail_first
            if fail:
                state["failed"] += 1
            throttle = not fail and state["throttled"] < args.throttle
            if throttle:
                state["throttled"] += 1
        # Each request is logged before its answer goes out, so that the log
        # is whole once the client has its answers.
        fail = fail or bool(args.fail_path and args.fail_path in f"{self.command} {self.path}")
        if fail:
            self.record(500)
            self.answer(500, b"injected failure")
            return
        if throttle:
            ra = retry_after_value()
            self.record(args.throttle_status, 0, ra)
            self.answer(args.throttle_status, b"slow down", [("Retry-After", ra)] if ra else [])
            return
        if args.bearer and self.path.startswith("/token"):
            self.record(200)
            self.answer(200, json.dumps({"token": args.bearer}).encode(), [("Content-Type", "application/json")])
            return
        if args.bearer and self.headers.get("Authorization") != f"Bearer {args.bearer}":
            realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
            self.record(401)
            msg = b'{"errors":[{"code":"UNAUTHORIZED","message":"a bearer token is needed"}]}'
            self.answer(401, msg, [("WWW-Authenticate", f'Bearer realm="{realm}",service="fault-proxy"')])
            return
        if args.delay:
            time.sleep(args.delay / 1000)
        is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
        if is_blob and args.delay_blobs:
            time.sleep(args.delay_blobs / 1000)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        drop = HOP | {"host"} | ({"range"} if args.ignore_range else set())
        headers = {k: v for k, v in self.headers.items() if k.lower() not in drop}
        headers["Host"] = f"{up.hostname}:{up.port}"
        path = self.path
        if args.refuse_mount and self.command == "POST" and "mount=" in path:
            base, _, query = path.partition("?")
            kept = [q for q in query.split("&") if q and not q.startswith(("mount=", "from="))]
            path = base + ("?" + "&".join(kept) if kept else "")
        conn.request(self.command, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if is_blob and args.corrupt and self.path.endswith(args.corrupt) and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        cut = False
        if is_blob and args.cut and self.path.endswith(args.cut) and r.status in (200, 206) and data:
            with lock:
                cut = args.cut_times < 0 or state["cut"] < args.cut_times
                if cut:
                    state["cut"] += 1
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in HOP or (k.lower() == "content-length" and self.command != "HEAD"):
                continue
            if k.lower() == "location" and v.startswith(args.upstream):
                v = v[len(args.upstream):]
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        conn.close()
        sent = 0
        if self.command != "HEAD":
            sent = int(len(data) * args.cut_at) if cut else len(data)
        self.record(r.status, sent)
        if self.command != "HEAD":
            if cut:
                self.wfile.write(data[:sent])
                self.wfile.flush()
                # Close the connection mid-body: the client sees it cut.
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that goes away mid-answer (the resume test kills one)


srv = Server(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))

os.replace(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
