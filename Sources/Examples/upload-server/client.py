# The upload client: sends each file named on the command line over one connection, then prints
# what the server answered (the library's UploadStreamHandler answers "OK name size" per file).
import json
import os
import socket
import struct
import sys

host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port), timeout=10) as sock:
    for path in sys.argv[3:]:
        header = json.dumps({"cmd": "put", "filename": os.path.basename(path),
                             "filesize": os.path.getsize(path)}).encode()
        sock.sendall(struct.pack("i", len(header)))
        sock.sendall(header)
        with open(path, "rb") as f:
            sock.sendall(f.read())
    sock.shutdown(socket.SHUT_WR)
    print(sock.makefile("rb").read().decode(), end="")
