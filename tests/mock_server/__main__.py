"""python3 -m tests.mock_server --port 0 [--tls] [--cert-mode M] [--state-dir DIR]

Prints one JSON line with the port and keys once bound, then serves until
SIGTERM or SIGINT."""

import argparse
import json
import signal
import sys
import threading

from .server import MockServer
from .tls import CERT_MODES


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m tests.mock_server")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "localhost", "::1"))
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh test CA")
    parser.add_argument("--cert-mode", default="valid", choices=CERT_MODES,
                        help="which server certificate to present (implies --tls)")
    parser.add_argument("--state-dir", help="where certificates go (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    server = MockServer(tls=args.tls or args.cert_mode != "valid", cert_mode=args.cert_mode,
                        state_dir=args.state_dir, host=args.host, port=args.port,
                        verbose=args.verbose)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(json.dumps(server.info), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
