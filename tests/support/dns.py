"""A tiny DNS server for the native topology: answers A queries from a fixed table.

In the compose stack nginx asks Docker's DNS for the service names `ws` and
`http`, which answer with every replica's address. Here this server gives
nginx the same names, pointing at the loopback addresses the native replicas
listen on, so nginx runs on the very same configuration.
"""

import socket
import struct
import threading

TYPE_A = 1
CLASS_IN = 1
TTL = 1


def _question(packet: bytes) -> tuple[str, int, int, int]:
    """(name, qtype, qclass, end offset) of the first question of a query."""
    labels, offset = [], 12
    while (length := packet[offset]) != 0:
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii").lower())
        offset += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[offset + 1 : offset + 5])
    return ".".join(labels), qtype, qclass, offset + 5


def answer(packet: bytes, table: dict[str, list[str]]) -> bytes:
    """The response to one query: the name's A records, or NXDOMAIN."""
    (query_id,) = struct.unpack("!H", packet[:2])
    name, qtype, qclass, end = _question(packet)
    question = packet[12:end]
    addresses = table.get(name)
    if addresses is None:
        header = struct.pack("!HHHHHH", query_id, 0x8183, 1, 0, 0, 0)  # NXDOMAIN
        return header + question
    records = b""
    if qtype == TYPE_A and qclass == CLASS_IN:
        for address in addresses:
            # A pointer to the name in the question (offset 12), then the record.
            records += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4)
            records += socket.inet_aton(address)
    count = len(records) // 16
    header = struct.pack("!HHHHHH", query_id, 0x8180, 1, count, 0, 0)
    return header + question + records


class DnsServer:
    """UDP on 127.0.0.1 and a free port; `table` maps names to IPv4 addresses."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "DnsServer":
        self.thread.start()
        return self

    def serve(self) -> None:
        while not self.stopped:
            try:
                packet, client = self.sock.recvfrom(512)
            except OSError:
                # Closed by stop(); or an ICMP "port unreachable" left by an
                # answer to a resolver that had gone, which Linux reports on
                # the next receive: the server must outlive that.
                continue
            try:
                self.sock.sendto(answer(packet, self.table), client)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query we understand: no answer
            except OSError:
                continue  # the asker went away

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()
