# The seeds' chat client: sends each line it reads, prints each reply; "exit" or an empty line ends.
from socket import *
import sys

host, port = sys.argv[1], int(sys.argv[2])
bufsize = 1024
addr = (host, port)
client = socket(AF_INET, SOCK_STREAM)
client.settimeout(10)
client.connect(addr)
print(client.recv(bufsize).decode())  # the greeting
while True:
    data = sys.stdin.readline().strip()  # raw_input() in the seed
    if not data or data == 'exit':
        break
    client.send(('%s\r\n' % data).encode())
    data = client.recv(bufsize)
    if not data:
        break
    print(data.decode().strip())
client.close()
