#!/usr/bin/env python3
"""A reverse proxy in front of a test registry that misbehaves on purpose.

usage: fault_proxy.py --upstream http://127.0.0.1:5000 --port-file FILE [options]

  --fail-first N     answer 500 to the first N requests (any path)
  --corrupt DIGEST   flip a byte in the body of blob DIGEST
  --delay-blobs MS   wait MS milliseconds before answering each blob GET
  --log FILE         append "METHOD PATH STATUS" for every request

It listens on 127.0.0.1 on a free port and writes the port to --port-file.
"""
import argparse
import http.client
import http.server
import socketserver
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--corrupt", default="")
ap.add_argument("--delay-blobs", type=int, default=0)
ap.add_argument("--log", default="")
args = ap.parse_args()
up = urllib.parse.urlparse(args.upstream)
lock = threading.Lock()
state = {"failed": 0}

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, status):
        if args.log:
            with lock, open(args.log, "a") as f:
                f.write(f"{self.command} {self.path} {status}\n")

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with lock:
            fail = state["failed"] < args.fail_first
            if fail:
                state["failed"] += 1
        if fail:
            msg = b"injected failure"
            self.send_response(500)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(msg)
            self.record(500)
            return
        is_blob = "/blobs/sha256:" in self.path and self.command == "GET"
        if is_blob and args.delay_blobs:
            time.sleep(args.delay_blobs / 1000)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        headers["Host"] = f"{up.hostname}:{up.port}"
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if is_blob and args.corrupt and self.path.endswith(args.corrupt) and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
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
        if self.command != "HEAD":
            self.wfile.write(data)
        self.record(r.status)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that goes away mid-answer (the resume test kills one)


srv = Server(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402

os.replace(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
