#!/usr/bin/env python3
"""delay.py - a TCP forwarder that adds a one-way delay (issue 19).

Puts real network latency between bootstrap and its SSH nodes in the
benchmarks: each connection accepted on a loopback port is forwarded to
its target, and every chunk read on one side is written to the other
side --delay-ms later, in each direction (a round trip costs 2 x delay).

    delay.py --listen 127.0.0.1:0 --to HOST:PORT --delay-ms 50
             [--map LISTEN=TARGET ...] [--port-file FILE] [--count]
             [--max-conns N] [--max-seconds S] [--no-handshake]
    delay.py --selftest

The link is pipelined, not serialised: each direction is a queue of
(due time, bytes), a chunk's delay starts when it is read, so a stream
of writes arrives one delay later at the rate it was sent (like a real
link, not one chunk per delay). Byte order is kept per direction. A
half-close (EOF) is a queue entry too and reaches the other side after
the delay; a reset aborts both sides after the delay. Backpressure: at
most QUEUE_CHUNKS chunks wait per direction, then the reader stops.

The TCP handshake is modelled (--no-handshake turns it off): a client's
connect() returns at once here, so its bytes are not read before one
round trip (2 x delay) and the target is connected after 1.5 round trips
(3 x delay), when a real server's accept() would return. Both
client-speaks-first (HTTP) and server-speaks-first (SSH) protocols then
see the timeline of a real link of that latency.

Several --map LISTEN=TARGET pairs (and --listen/--to, one more pair)
share one process: many nodes behind one forwarder. Listen addresses
must be loopback (127.0.0.0/8, ::1, localhost); anything else is refused
with exit status 2. Once every listener is bound, the ports (one line
per pair, in order) are written to --port-file, and "ready" with the
pairs is printed on stdout. It ends on SIGTERM or SIGINT, after
--max-seconds, or once --max-conns connections were accepted and have
all closed; then, with --count, prints one JSON line per connection
(bytes and chunks each way, turns: how often the flow changed direction,
about two per round trip) on stdout and exits 0.

Python 3 standard library only; one thread, asyncio.
"""
import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUFSIZE = 65536
QUEUE_CHUNKS = 256          # per direction: at most 16 MiB waiting
CONNECT_TIMEOUT = 10.0      # seconds, to the target
_RESET = None               # queue entry: the reading side failed


class UsageError(Exception):
    pass


def parse_addr(text, what):
    """'HOST:PORT' or '[V6]:PORT' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError("%s %r: expected HOST:PORT (like 127.0.0.1:2222)" % (what, text))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def parse_listen(text):
    """A loopback listen address; a name other than localhost is refused
    rather than resolved (no DNS)."""
    host, port = parse_addr(text, "--listen")
    if host == "localhost":
        return "127.0.0.1", port
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError("--listen %s: not a loopback address; the forwarder listens only "
                         "on 127.0.0.1 (or another 127.x address), ::1 or localhost" % text)
    return host, port


def fmt_addr(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class Forwarder:
    """Every listener and connection of one process; used by its one
    event loop thread only."""

    def __init__(self, pairs, delay, handshake, max_conns):
        self.pairs = pairs              # [((lhost, lport), (thost, tport))]
        self.delay = delay              # seconds, one way
        self.handshake = handshake
        self.max_conns = max_conns
        self.servers = []
        self.ports = []
        self.accepted = 0
        self.tasks = set()              # one per open connection
        self.stats = []                 # one dict per connection, in accept order
        self.stop = None                # asyncio.Event, made in the loop

    async def listen(self):
        self.stop = asyncio.Event()
        for (lhost, lport), target in self.pairs:
            server = await asyncio.start_server(
                lambda r, w, t=target: self.accept(r, w, t), lhost, lport,
                backlog=256, reuse_address=True)
            self.servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])

    def close_listeners(self):
        for server in self.servers:
            server.close()

    def accept(self, reader, writer, target):
        if self.accepted >= self.max_conns:
            writer.transport.abort()
            return
        self.accepted += 1
        if self.accepted >= self.max_conns:
            self.close_listeners()
        lhost, lport = writer.get_extra_info("sockname")[:2]
        stats = {"conn": self.accepted, "listen": fmt_addr(lhost, lport),
                 "target": fmt_addr(*target), "up_bytes": 0, "up_chunks": 0,
                 "down_bytes": 0, "down_chunks": 0, "turns": 0, "last": None,
                 "t0": time.monotonic(), "seconds": None, "error": None}
        self.stats.append(stats)
        task = asyncio.ensure_future(self.serve(reader, writer, target, stats))
        self.tasks.add(task)
        task.add_done_callback(self.closed)

    def closed(self, task):
        self.tasks.discard(task)
        if self.accepted >= self.max_conns and not self.tasks:
            self.stop.set()

    async def read_side(self, reader, queue, stats, way):
        """Reads chunks and queues each with its due time; EOF and resets
        are queued too, so they keep their place and their delay."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await reader.read(BUFSIZE)
            except OSError as e:
                stats["error"] = stats["error"] or "%s read: %s" % (way, e)
                await queue.put((loop.time() + self.delay, _RESET))
                return
            await queue.put((loop.time() + self.delay, data))
            if not data:
                return
            stats[way + "_bytes"] += len(data)
            stats[way + "_chunks"] += 1
            if stats["last"] is not None and stats["last"] != way:
                stats["turns"] += 1
            stats["last"] = way

    async def write_side(self, queue, writer, stats, way):
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is _RESET:
                raise ConnectionResetError("the other side was reset")
            try:
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError as e:
                stats["error"] = stats["error"] or "%s write: %s" % (way, e)
                raise

    async def serve(self, creader, cwriter, target, stats):
        """One connection: two directions, each a reader and a writer task.
        Any error aborts both sockets; otherwise both close when both
        directions have carried their EOF."""
        uwriter = None
        tasks = []
        up = asyncio.Queue(QUEUE_CHUNKS)
        down = asyncio.Queue(QUEUE_CHUNKS)
        failed = True
        try:
            if self.handshake:
                await asyncio.sleep(2 * self.delay)
            tasks.append(asyncio.ensure_future(self.read_side(creader, up, stats, "up")))
            if self.handshake:
                await asyncio.sleep(self.delay)
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection(target[0], target[1]), CONNECT_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as e:
                stats["error"] = "connect %s: %s" % (fmt_addr(*target), e or "timed out")
                sys.stderr.write("delay.py: %s -> %s\n" % (stats["listen"], stats["error"]))
                return
            tasks.append(asyncio.ensure_future(self.write_side(up, uwriter, stats, "up")))
            tasks.append(asyncio.ensure_future(self.read_side(ureader, down, stats, "down")))
            tasks.append(asyncio.ensure_future(self.write_side(down, cwriter, stats, "down")))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            errors = [t.exception() for t in done if t.exception() is not None]
            if errors:
                stats["error"] = stats["error"] or str(errors[0])
            else:
                failed = False
        finally:
            for t in tasks:
                t.cancel()
            for w in (cwriter, uwriter):
                if w is None:
                    continue
                if failed:
                    w.transport.abort()
                else:
                    w.close()
            stats["seconds"] = round(time.monotonic() - stats["t0"], 3)

    async def run(self, max_seconds):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            await asyncio.wait_for(self.stop.wait(), max_seconds)
        except asyncio.TimeoutError:
            sys.stderr.write("delay.py: --max-seconds %g reached\n" % max_seconds)
        self.close_listeners()
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)

    def report(self, out):
        for s in self.stats:
            row = {k: v for k, v in s.items() if k not in ("last", "t0")}
            if row["seconds"] is None:
                row["seconds"] = round(time.monotonic() - s["t0"], 3)
            out.write(json.dumps(row) + "\n")
        out.flush()


def write_port_file(path, ports):
    """Written whole then renamed, so a script polling for it never reads half."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("".join("%d\n" % p for p in ports))
    os.replace(tmp, path)


async def amain(a, pairs):
    fwd = Forwarder(pairs, a.delay_ms / 1000.0, not a.no_handshake, a.max_conns)
    try:
        await fwd.listen()
    except OSError as e:
        sys.stderr.write("delay.py: listen: %s\n" % e)
        fwd.close_listeners()
        return 1
    if a.port_file:
        write_port_file(a.port_file, fwd.ports)
    print("ready " + " ".join("%s->%s" % (fmt_addr(l[0], p), fmt_addr(*t))
                              for ((l, t), p) in zip(pairs, fwd.ports)), flush=True)
    await fwd.run(a.max_seconds)
    if a.count:
        fwd.report(sys.stdout)
    return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="TCP forwarder on loopback that delays every chunk, each way (issue 19)")
    ap.add_argument("--listen", help="loopback HOST:PORT to listen on (port 0: any free port)")
    ap.add_argument("--to", help="target HOST:PORT for --listen")
    ap.add_argument("--map", action="append", default=[], metavar="LISTEN=TARGET",
                    help="one more listener and its target (repeatable)")
    ap.add_argument("--delay-ms", type=float, default=None,
                    help="one-way delay in milliseconds (a round trip adds twice this)")
    ap.add_argument("--no-handshake", action="store_true",
                    help="do not model the TCP handshake's 1.5 round trips on connect")
    ap.add_argument("--port-file", help="write the bound ports here, one line per pair")
    ap.add_argument("--count", action="store_true",
                    help="at exit, print one JSON line per connection (bytes, chunks, turns)")
    ap.add_argument("--max-conns", type=int, default=1000,
                    help="end once this many connections were accepted and closed "
                         "(default 1000)")
    ap.add_argument("--max-seconds", type=float, default=3600,
                    help="end after this long (default 3600)")
    ap.add_argument("--selftest", action="store_true",
                    help="run the self-test on loopback (a few seconds) and exit")
    a = ap.parse_args(argv)
    if a.selftest:
        return a, []
    try:
        if a.delay_ms is None or a.delay_ms < 0:
            raise UsageError("--delay-ms MS (0 or more) is needed")
        if a.max_conns < 1 or a.max_seconds <= 0:
            raise UsageError("--max-conns and --max-seconds must be positive")
        if (a.listen is None) != (a.to is None):
            raise UsageError("--listen and --to go together")
        pairs = []
        if a.listen is not None:
            pairs.append((parse_listen(a.listen), parse_addr(a.to, "--to")))
        for m in a.map:
            listen, sep, target = m.partition("=")
            if not sep:
                raise UsageError("--map %r: expected LISTEN=TARGET" % m)
            pairs.append((parse_listen(listen), parse_addr(target, "--map target")))
        if not pairs:
            raise UsageError("--listen/--to or --map is needed")
    except UsageError as e:
        ap.error(str(e))
    return a, pairs


# ---------------------------------------------------------------- self-test

class EchoServer:
    """Loopback echo server for the self-test, a thread per connection; on
    the client's EOF it sends b"EOF <bytes received>\\n" and closes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn):
        total = 0
        with conn:
            conn.settimeout(20)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while True:
                    data = conn.recv(BUFSIZE)
                    if not data:
                        conn.sendall(b"EOF %d\n" % total)
                        return
                    total += len(data)
                    conn.sendall(data)
            except OSError:
                return

    def close(self):
        self.done.set()
        self.thread.join(timeout=2)
        self.sock.close()


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        data = sock.recv(min(BUFSIZE, n - len(buf)))
        if not data:
            break
        buf += data
    return bytes(buf)


def recv_all(sock):
    buf = bytearray()
    while True:
        data = sock.recv(BUFSIZE)
        if not data:
            return bytes(buf)
        buf += data


def client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_port_file(path, lines, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with open(path) as f:
                ports = [int(x) for x in f.read().split()]
            if len(ports) == lines:
                return ports
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError("no port file %s after %g s (forwarder exit %s)"
                       % (path, timeout, proc.poll()))


def ms(t):
    return "%.1f ms" % (t * 1000)


def selftest():
    """Checks (a)-(h) on loopback with --delay-ms 50; each prints ok or FAIL."""
    me = os.path.abspath(__file__)
    results = []

    def check(name, good, detail):
        results.append(good)
        print("%-4s %s: %s" % ("ok" if good else "FAIL", name, detail), flush=True)

    echo = EchoServer()
    tmp = tempfile.mkdtemp(prefix="delay-selftest.")
    procs = []
    try:
        pf = os.path.join(tmp, "port")
        fwd = subprocess.Popen([sys.executable, me, "--listen", "127.0.0.1:0",
                                "--to", "127.0.0.1:%d" % echo.port, "--delay-ms", "50",
                                "--port-file", pf, "--count", "--max-conns", "3",
                                "--max-seconds", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(fwd)
        port, = wait_port_file(pf, 1, fwd)

        # (h) first exchange on a new connection: handshake (1 RTT) + request (1 RTT)
        s = client(port)
        t0 = time.monotonic()
        s.sendall(b"x")
        got = recv_exact(s, 1)
        first = time.monotonic() - t0
        check("(h) first byte back on a new connection (handshake + round trip, ~200 ms)",
              got == b"x" and 0.190 <= first <= 0.350, ms(first))

        # (a) one small request/response round trip, three times
        rtts = []
        for i in range(3):
            msg = b"ping %d\n" % i
            t0 = time.monotonic()
            s.sendall(msg)
            ok = recv_exact(s, len(msg)) == msg
            rtts.append(time.monotonic() - t0 if ok else 99.0)
        check("(a) round trip, 95-200 ms", all(0.095 <= r <= 0.200 for r in rtts),
              ", ".join(ms(r) for r in rtts))

        # (b) 20 pipelined writes, then the reads: about one RTT, not 20
        msgs = [b"m%02d......\n" % i for i in range(20)]
        t0 = time.monotonic()
        for m in msgs:
            s.sendall(m)
            time.sleep(0.001)   # separate chunks, not one coalesced write
        got = recv_exact(s, sum(len(m) for m in msgs))
        piped = time.monotonic() - t0
        check("(b) 20 pipelined writes then reads, < 400 ms",
              got == b"".join(msgs) and piped < 0.400, ms(piped))
        s.shutdown(socket.SHUT_WR)
        recv_all(s)
        s.close()

        # (c) 1 MiB each way, byte for byte
        payload = os.urandom(1 << 20)
        s = client(port)
        t0 = time.monotonic()
        sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        sender.start()
        back = recv_exact(s, len(payload))
        big = time.monotonic() - t0
        sender.join(timeout=10)
        s.shutdown(socket.SHUT_WR)
        tail = recv_all(s)
        s.close()
        check("(c) 1 MiB up and back, byte-exact, < 1 s (not one chunk per delay)",
              back == payload and tail == b"EOF %d\n" % len(payload) and big < 1.0,
              "%s; the floor is 200 ms (handshake, then one round trip)" % ms(big))

        # (d) half-close: the server sees EOF, its last reply still arrives
        s = client(port)
        s.sendall(b"hello")
        recv_exact(s, 5)
        t0 = time.monotonic()
        s.shutdown(socket.SHUT_WR)
        tail = recv_all(s)
        half = time.monotonic() - t0
        s.close()
        check("(d) half-close: EOF to the server, its reply back after ~1 RTT, then close",
              tail == b"EOF 5\n" and 0.095 <= half <= 0.300, "%r in %s" % (tail, ms(half)))

        # (f) --max-conns 3 ends it by itself; --count reports each connection
        try:
            out, err = fwd.communicate(timeout=5)
            rows = [json.loads(x) for x in out.decode().splitlines()[1:]]
            big_row = rows[1] if len(rows) == 3 else {}
            good = (fwd.returncode == 0 and len(rows) == 3
                    and all(r.get("error") is None for r in rows)
                    and big_row.get("up_bytes") == 1 << 20
                    and big_row.get("down_bytes") == (1 << 20) + len(b"EOF 1048576\n"))
            detail = "exit %s, %d rows; conn 1: %s" % (
                fwd.returncode, len(rows), json.dumps(rows[0]) if rows else err.decode())
        except (subprocess.TimeoutExpired, ValueError) as e:
            good, detail = False, str(e)
        check("(f) --max-conns 3 exits 0 after the third close; --count rows, no errors", good, detail)

        # (e) a listen address that is not loopback is refused
        for bad in ("0.0.0.0:0", "[::]:0", "example.com:0"):
            try:
                r = subprocess.run([sys.executable, me, "--listen", bad, "--to",
                                    "127.0.0.1:%d" % echo.port, "--delay-ms", "50"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
                good = r.returncode == 2 and b"not a loopback address" in r.stderr
                detail = "exit %d: %s" % (r.returncode, r.stderr.decode().strip().splitlines()[-1])
            except subprocess.TimeoutExpired as e:
                good, detail = False, str(e)
            check("(e) --listen %s refused" % bad, good, detail)

        # (g) two --map pairs in one process, then SIGTERM with a connection open
        pf2 = os.path.join(tmp, "ports2")
        target = "127.0.0.1:%d" % echo.port
        fwd2 = subprocess.Popen([sys.executable, me, "--delay-ms", "10", "--no-handshake",
                                 "--map", "127.0.0.1:0=" + target,
                                 "--map", "127.0.0.1:0=" + target,
                                 "--port-file", pf2, "--max-seconds", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(fwd2)
        ports = wait_port_file(pf2, 2, fwd2)
        socks = [client(p) for p in ports]
        times = []
        for i, c in enumerate(socks):
            t0 = time.monotonic()
            c.sendall(b"map%d" % i)
            ok = recv_exact(c, 4) == b"map%d" % i
            times.append(time.monotonic() - t0 if ok else 99.0)
        fwd2.send_signal(signal.SIGTERM)
        try:
            fwd2.wait(timeout=5)
            code = fwd2.returncode
        except subprocess.TimeoutExpired:
            code = "none in 5 s"
        for c in socks:
            c.close()
        check("(g) two --map pairs (10 ms: RTT 20-100 ms), then SIGTERM exits 0",
              all(0.019 <= t <= 0.100 for t in times) and code == 0,
              "%s; exit %s" % (", ".join(ms(t) for t in times), code))
    except (OSError, RuntimeError) as e:
        check("self-test", False, "%s: %s" % (type(e).__name__, e))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        echo.close()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    failed = results.count(False)
    print("%d checks, %d failed" % (len(results), failed))
    return 1 if failed else 0


def main(argv=None):
    a, pairs = parse_args(argv)
    if a.selftest:
        return selftest()
    return asyncio.run(amain(a, pairs))


if __name__ == "__main__":
    sys.exit(main())
