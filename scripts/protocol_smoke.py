#!/usr/bin/env python3
"""The whole checkout flow over the binary protocol (docs/protocol.md), written from the specification alone.

Start a server:  dotnet run -c Release --project host/Wildberries.Host -- --demo --tcp tcp://127.0.0.1:8081
Then:            python3 scripts/protocol_smoke.py [data/keys.json] [host] [tcp port]
It pays through the sandbox page over HTTP (payment webhooks stay HTTP) and ships with the admin key.
"""
import json, socket, struct, sys, urllib.error, urllib.request

keys = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "data/keys.json"))
host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
port = int(sys.argv[3]) if len(sys.argv) > 3 else 8081


def enc(x):
    """The few MessagePack types the requests need."""
    if x is None: return b"\xc0"
    if isinstance(x, bool): return b"\xc3" if x else b"\xc2"
    if isinstance(x, int): return bytes([x]) if 0 <= x < 128 else b"\xd3" + struct.pack(">q", x)
    if isinstance(x, str):
        b = x.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else bytes([0xD9, len(b)])) + b
    if isinstance(x, list): return bytes([0x90 | len(x)]) + b"".join(enc(i) for i in x)
    raise TypeError(x)


def dec(b, i=0):
    """Enough of MessagePack to read the answers."""
    c = b[i]
    if c <= 0x7F: return c, i + 1
    if c >= 0xE0: return c - 256, i + 1
    if 0x90 <= c <= 0x9F or c == 0xDC:
        n, i = (c & 15, i + 1) if c != 0xDC else (struct.unpack(">H", b[i + 1:i + 3])[0], i + 3)
        out = []
        for _ in range(n):
            v, i = dec(b, i)
            out.append(v)
        return out, i
    if 0xA0 <= c <= 0xBF: n = c & 31; return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if c == 0xD9: n = b[i + 1]; return b[i + 2:i + 2 + n].decode(), i + 2 + n
    if c == 0xDA: n = struct.unpack(">H", b[i + 1:i + 3])[0]; return b[i + 3:i + 3 + n].decode(), i + 3 + n
    fixed = {0xC0: (None, 1), 0xC2: (False, 1), 0xC3: (True, 1)}
    if c in fixed: return fixed[c][0], i + fixed[c][1]
    ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if c in ints:
        size = struct.calcsize(ints[c])
        return struct.unpack(ints[c], b[i + 1:i + 1 + size])[0], i + 1 + size
    raise ValueError(hex(c))


def frame(frame_type, request_id, body):
    e = enc(body)
    return struct.pack(">IBBI", 6 + len(e), 1, frame_type, request_id) + e


class Connection:
    def __init__(self, key):
        self.sock, self.buf = socket.create_connection((host, port)), b""
        self.sock.sendall(frame(0x01, 0, [key, "protocol_smoke.py"]))
        print("welcome", self.receive())

    def receive(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    t, i = self.buf[5], struct.unpack(">I", self.buf[6:10])[0]
                    body = dec(self.buf[10:4 + n])[0]
                    self.buf = self.buf[4 + n:]
                    if t == 0x03: raise RuntimeError(f"request {i}: {body}")
                    return body
            chunk = self.sock.recv(65536)
            if not chunk: raise EOFError("server closed the connection")
            self.buf += chunk

    def call(self, frame_type, request_id, body):
        self.sock.sendall(frame(frame_type, request_id, body))
        return self.receive()


storefront = Connection(keys["storefront"])
page = storefront.call(0x15, 1, [0, 3])
print("catalog", page)
order = storefront.call(0x10, 2, ["smoke-" + str(port), "alice", [[page[0][0][0], 1]], None, None])
print("checkout", order)
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs): return None
try:
    urllib.request.build_opener(NoRedirect).open(urllib.request.Request(order[5] + "/pay", method="POST", data=b""))
except urllib.error.HTTPError as e:
    print("sandbox pay ->", e.code, e.headers.get("Location"))
print("order", storefront.call(0x11, 3, [order[0], "alice"]))
admin = Connection(keys["admin"])
print("ship", admin.call(0x22, 4, [order[0]]))
