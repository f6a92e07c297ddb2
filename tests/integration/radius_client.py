"""radius_client.py - a tiny RADIUS accounting client for the tests (RFC 2866): builds
signed Accounting-Requests and checks Accounting-Responses, for what radclient cannot do
(resend the very same octets from the same port, send from a chosen source address)."""
import hashlib
import os
import socket
import struct

START, STOP, INTERIM, ON, OFF = 1, 2, 3, 7, 8


def attr(t, value):
    return bytes([t, len(value) + 2]) + value


def request(secret, ident, status, user=None, ip=None, session=None):
    attrs = attr(40, struct.pack("!I", status))
    if user is not None:
        attrs += attr(1, user.encode())
    if ip is not None:
        attrs += attr(8, socket.inet_aton(ip))
    if session is not None:
        attrs += attr(44, session.encode())
    head = struct.pack("!BBH", 4, ident, 20 + len(attrs))
    auth = hashlib.md5(head + bytes(16) + attrs + secret.encode()).digest()
    return head + auth + attrs


def response_ok(reply, req, secret):
    if len(reply) < 20 or reply[0] != 5 or reply[1] != req[1]:
        return False
    length = struct.unpack("!H", reply[2:4])[0]
    body = reply[:length]
    expect = hashlib.md5(body[:4] + req[4:20] + body[20:] + secret.encode()).digest()
    return expect == body[4:20]


class Client:
    """One UDP socket (so one source port), bound to `source`."""

    def __init__(self, port, host="127.0.0.1", source="127.0.0.1", timeout=2.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.dest = (host, port)

    def exchange(self, packet):
        """Sends packet; the reply, or None after the timeout."""
        self.sock.sendto(packet, self.dest)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            return None

    def send(self, packet):
        self.sock.sendto(packet, self.dest)

    def close(self):
        self.sock.close()


def garbage(rng, n):
    """n datagrams of random and near-valid junk."""
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(os.urandom(rng.randint(0, 100)))
        elif kind == 1:  # a plausible header with a lying Length
            out.append(struct.pack("!BBH", 4, i & 255, rng.randint(0, 65535)) + os.urandom(16 + rng.randint(0, 40)))
        elif kind == 2:  # attributes with bad lengths
            body = bytes([rng.randint(0, 255), rng.choice([0, 1, 200])]) + os.urandom(10)
            out.append(struct.pack("!BBH", 4, i & 255, 20 + len(body)) + os.urandom(16) + body)
        else:  # over the 4096-octet maximum
            out.append(struct.pack("!BBH", 4, i & 255, 5000) + os.urandom(4996))
    return out
