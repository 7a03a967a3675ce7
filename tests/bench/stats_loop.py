#!/usr/bin/env python3
"""Ask GET /v1/stats in a loop on one keep-alive mutual-TLS connection, as a
statistician would refresh a dashboard, until SIGTERM; then print how many
answers came, how fast and how quickly (milliseconds; the bench runs it
beside intake).

    stats_loop.py <host:port> <pki dir> <query>"""

import http.client
import signal
import ssl
import sys
import time


def main():
    addr, pki, query = sys.argv[1:4]
    host, port = addr.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    ctx.load_cert_chain(pki + "/statistician.crt", pki + "/statistician.key")
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    lat, failed, t0 = [], 0, time.monotonic()
    while not stop:
        t = time.monotonic()
        try:
            conn.request("GET", "/v1/stats?" + query)
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        if ok:
            lat.append(time.monotonic() - t)
        else:
            failed += 1
            time.sleep(0.1)
    elapsed = time.monotonic() - t0
    lat.sort()
    pct = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: 0)
    print("stats answers=%d failed=%d per_s=%.1f p50=%.1f p99=%.1f" % (
        len(lat), failed, len(lat) / elapsed if elapsed else 0, pct(0.5), pct(0.99)))


if __name__ == "__main__":
    main()
