#!/usr/bin/python3
"""Mon commands per second and latency through librados (python3-rados).

Run by `gomsgr-ceph compare`: THREADS threads share one connected Rados
handle (one MonClient session, Ceph's C++ AsyncMessenger, msgr2) and call
Rados.mon_command in a loop, which releases the GIL while it waits. Prints
one JSON object with the fields of gomsgr-ceph's results.
"""
import argparse
import json
import threading
import time

import rados


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mon", required=True, help="host:port of the mon's v2 address")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--cmd", default='{"prefix": "version"}')
    p.add_argument("--name", default="client.admin", help="entity to authenticate as")
    p.add_argument("--keyring", default="", help="keyring for cephx (empty: auth none)")
    a = p.parse_args()
    auth = "cephx" if a.keyring else "none"

    conf = {
        "mon_host": "v2:" + a.mon,
        "auth_cluster_required": auth,
        "auth_service_required": auth,
        "auth_client_required": auth,
        "ms_client_mode": "crc",
        "ms_mon_client_mode": "crc",
        "keyring": a.keyring or "/dev/null",
        "log_to_stderr": "false",
        "err_to_stderr": "false",
        "log_file": "/dev/null",
    }
    cluster = rados.Rados(name=a.name, conffile="/dev/null", conf=conf)
    cluster.connect(timeout=int(a.timeout))
    try:
        start = time.perf_counter()
        measure_from = start + a.warmup
        end = measure_from + a.duration
        lats = [[] for _ in range(a.concurrency)]
        errors = []

        def worker(i):
            out = lats[i]
            while True:
                t0 = time.perf_counter()
                if t0 > end:
                    return
                ret, _, outs = cluster.mon_command(a.cmd, b"", timeout=int(a.timeout))
                if ret != 0:
                    errors.append("rc %d: %s" % (ret, outs))
                    return
                if t0 > measure_from:
                    out.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit("mon_command failed: " + errors[0])
        all_lats = sorted(x for l in lats for x in l)
        n = len(all_lats)
        res = {
            "client": "librados",
            "concurrency": a.concurrency,
            "ops": n,
            "seconds": a.duration,
            "ops_per_sec": n / a.duration,
            "p50_us": all_lats[n // 2] * 1e6 if n else 0,
            "p99_us": all_lats[min(n - 1, n * 99 // 100)] * 1e6 if n else 0,
        }
        print(json.dumps(res))
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
