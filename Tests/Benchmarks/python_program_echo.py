#!/usr/bin/env python3
"""The seeds' line echo of python_threading_echo.py, the same ThreadingTCPServer, run by the
socketserverd module: under socketserverd's handler = program each worker is one interpreter on
the shared socket; run by hand it binds 127.0.0.1:PORT as python_threading_echo.py does.

usage: python3 python_program_echo.py [PORT]    (PYTHONPATH must reach Sources/python)
"""
import socketserver
import sys

import socketserverd


class LineEcho(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9999
    socketserverd.serve(socketserver.ThreadingTCPServer, LineEcho, address=("127.0.0.1", port))
