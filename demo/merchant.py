"""A tiny merchant that takes the Wallet Manager's signed callbacks.

    python demo/merchant.py --trusted 0xWalletManagerAddress [--port 0]

Listens on 127.0.0.1 (port 0: any free port) and prints one JSON line,
{"url": "http://127.0.0.1:PORT/callbacks/wallet", "port": PORT}, once bound.
Each POST is checked by one shared walletsign.MessageVerifier (signature,
trusted sender, timestamp window, replay cache): a valid callback is answered
200 with ws.rpc_result, a refused one 401 with ws.rpc_error carrying the
reason. One line per callback goes to stderr. Stops on SIGTERM/SIGINT."""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import walletsign as ws

PATH = "/callbacks/wallet"
MAX_BODY = 64 * 1024


def make_handler(verifier):
    class Handler(BaseHTTPRequestHandler):
        server_version = "demo-merchant/1"

        def do_POST(self):
            if self.path != PATH:
                return self.answer(404, ws.rpc_error(404, "not found"))
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                return self.answer(413, ws.rpc_error(413, "body too large"))
            body = self.rfile.read(length)
            try:
                msg = verifier.verify(list(self.headers.items()), body)
            except ws.SignatureError as err:
                log(f"refused: {err.reason}")
                return self.answer(401, ws.rpc_error(401, "callback rejected", {"reason": err.reason}))
            callback = json.loads(body)          # trusted only now that it is verified
            data = callback.get("data") or {}
            log(f"accepted {callback.get('type')} from {msg.address} (sequence {msg.sequence}): "
                f"{data.get('amount')} {data.get('chain_type')} {data.get('status')}, "
                f"tx {str(data.get('tx_hash'))[:10]}…")
            self.answer(200, ws.rpc_result({"received": True, "sequence": msg.sequence}))

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):    # one line per callback instead (log())
            pass

    return Handler


def log(text):
    print("merchant: " + text, file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trusted", action="append", required=True, help="sender address to trust")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    verifier = ws.MessageVerifier(args.trusted)      # one per process: it holds the replay cache
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(verifier))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = server.server_address[1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}{PATH}", "port": port}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
