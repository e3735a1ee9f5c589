#!/usr/bin/env python3
"""Python's own socketserver, as a peer for socketserverd-bench: ForkingTCPServer with the seeds'
StreamRequestHandler line echo (every line read from rfile is written back to wfile).

usage: python3 python_forking_echo.py PORT      (listens on 127.0.0.1:PORT)

Python's defaults are kept on purpose (request_queue_size 5, max_children 40): this is the server
as a Python user gets it.
"""
import socketserver
import sys


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


if __name__ == "__main__":
    with socketserver.ForkingTCPServer(("127.0.0.1", int(sys.argv[1])), LineEcho) as server:
        server.serve_forever()
