#!/usr/bin/env python3
# The seeds' upload server (001_b8ba52f5ef117151.txt: FtpServer on ThreadingTCPServer), as the
# article wrote it, with its last line changed to run under socketserverd.
import socketserver
import struct
import json
import os
import socketserverd


class FtpServer(socketserver.BaseRequestHandler):
    coding = 'utf-8'
    server_dir = 'file_upload'
    max_packet_size = 1024
    base_dir = os.path.dirname(os.path.abspath(__file__))

    def handle(self):
        print(self.request)
        while True:
            data = self.request.recv(4)
            data_len = struct.unpack('i', data)[0]
            head_json = self.request.recv(data_len).decode(self.coding)
            head_dic = json.loads(head_json)
            # print(head_dic)
            cmd = head_dic['cmd']
            if hasattr(self, cmd):
                func = getattr(self, cmd)
                func(head_dic)

    def put(self, args):
        file_path = os.path.normpath(os.path.join(
            self.base_dir,
            self.server_dir,
            args['filename']
        ))
        filesize = args['filesize']
        recv_size = 0
        print('----->', file_path)
        with open(file_path, 'wb') as f:
            while recv_size < filesize:
                recv_data = self.request.recv(self.max_packet_size)
                f.write(recv_data)
                recv_size += len(recv_data)
                print('recvsize:%s filesize:%s' % (recv_size, filesize))


socketserverd.serve(socketserver.ThreadingTCPServer, FtpServer, address=('127.0.0.1', 8080))
