#!/usr/bin/env python3
"""A hostile Kiss API on 127.0.0.1 for measuring how `kiss` meets bad bodies (issue: safe
against hostile servers). The base URL's first path segment picks the attack:

  http://127.0.0.1:PORT/huge-string   a record whose string never ends (streamed, ~2 GiB)
  http://127.0.0.1:PORT/gzip-bomb     a 4 GiB record inflated from a few MB of gzip
  http://127.0.0.1:PORT/deep          a record nested 100,000 levels deep
  http://127.0.0.1:PORT/many-keys     a record with a million distinct unknown keys

Run: python3 benches/hostile_server.py PORT, then for example
  KISS_BASE_URL=http://127.0.0.1:PORT/gzip-bomb KISS_CUSTOMER_CODE=A KISS_API_KEY=k \
    /usr/bin/time -v target/release/kiss export stock --format csv --out /tmp/x.csv
The schema is the contract's stock schema (kiss-schema/contract/stock.schema.json).
"""
import http.server
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = open(os.path.join(HERE, "..", "kiss-schema", "contract", "stock.schema.json"), "rb").read()
TOKEN = b'{"access_token":"t","token_type":"Bearer","expires_in":3600}'
MB = 1024 * 1024


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_whole(self, body, headers=()):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def stream(self, chunks, headers=()):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.send_whole(TOKEN)

    def do_GET(self):
        attack, _, path = self.path.strip("/").partition("/")
        if path == "stock/schema":
            return self.send_whole(SCHEMA)
        if attack == "huge-string":
            def chunks():
                yield b'[{"SKU":"'
                for _ in range(2048):
                    yield b"x" * MB
            return self.stream(chunks())
        if attack == "gzip-bomb":
            def chunks():
                compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
                yield compressor.compress(b'[{"SKU":"')
                block = b"x" * MB
                for _ in range(4096):
                    out = compressor.compress(block)
                    if out:
                        yield out
                yield compressor.compress(b'"}]') + compressor.flush()
            return self.stream(chunks(), [("Content-Encoding", "gzip")])
        if attack == "deep":
            depth = 100_000
            return self.send_whole(b'[{"SKU":"A","Zzz":' + b'[{"a":' * depth + b"1" + b"}]" * depth + b"}]")
        if attack == "many-keys":
            def chunks():
                yield b'[{"SKU":"A"'
                for start in range(0, 1_000_000, 10_000):
                    yield b"".join(b',"K%d":%d' % (i, i) for i in range(start, start + 10_000))
                yield b"}]"
            return self.stream(chunks())
        self.send_whole(b"[]")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Hostile).serve_forever()
