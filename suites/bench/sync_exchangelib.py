#!/usr/bin/python3
"""sync_exchangelib.py - the python3-exchangelib peer of bench_sync.

Fetches, for each of N impersonated mailboxes, every Inbox message with the
fields exsync's incoming sync stores (subject, body, sender, recipients,
received time, Internet message id), with a thread pool of --connections
workers. Prints one line:

  fetched N seconds S
"""
import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from exchangelib import (BASIC, IMPERSONATION, Account, Build, Configuration, Credentials,
                         Version)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--mailboxes", type=int, required=True)
    ap.add_argument("--connections", type=int, default=10)
    a = ap.parse_args()
    cred = Credentials(a.user, os.environ[a.password_env])
    conf = Configuration(service_endpoint=a.url, credentials=cred, auth_type=BASIC,
                         version=Version(build=Build(15, 0, 847)),
                         max_connections=a.connections)

    def fetch(i):
        addr = "%s%05d@%s" % (a.prefix, i, a.domain)
        acc = Account(addr, config=conf, access_type=IMPERSONATION, autodiscover=False)
        n = 0
        for m in acc.inbox.all().only("subject", "body", "sender", "to_recipients",
                                      "datetime_received", "message_id"):
            n += 1
        return n

    t0 = time.monotonic()
    with ThreadPoolExecutor(a.connections) as ex:
        total = sum(ex.map(fetch, range(a.mailboxes)))
    # cpu: user + system seconds of this process, for CPU per message
    print("fetched %d seconds %.3f cpu %.3f" % (total, time.monotonic() - t0, sum(os.times()[:2])),
          flush=True)


if __name__ == "__main__":
    main()
