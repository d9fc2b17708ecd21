#!/usr/bin/python3
"""te_lean.py - the lean Python peer of bench_testenable: standard library only.

The 9 EWS calls per impersonated mailbox that exsync's Test & Enable made
until issue 15 (it now makes 6: one GetFolder reads the root, the Inbox and
the ACT folders with the identity) and that te_exchangelib.py makes, in the
same order, written as the cheapest hand-made
client would: request bodies from string templates, answers read with
regular expressions, one keep-alive http.client connection per worker
thread, --connections threads (default 16).

  GetFolder msgfolderroot; GetFolder inbox; FindItem inbox (newest 1);
  CreateItem SendOnly to itself with the exsync.TestMarker property;
  FindItem inbox IsEqualTo the marker; DeleteItem HardDelete;
  GetFolder calendar+contacts+tasks; GetFolder msgfolderroot with
  exsync.OrgId and exsync.LastSync; UpdateFolder msgfolderroot setting both.

Prints one line: "mailboxes N succeeded K seconds S cpu C" (C: user + system
CPU seconds of this process). The password comes from the environment
variable named by --password-env.
"""
import argparse
import base64
import http.client
import os
import queue
import re
import sys
import threading
import time
import urllib.parse
import uuid

ENV = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
       'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
       'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
       'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header>'
       '<t:RequestServerVersion Version="Exchange2013_SP1"/><t:ExchangeImpersonation>'
       '<t:ConnectingSID><t:PrimarySmtpAddress>{mbx}</t:PrimarySmtpAddress></t:ConnectingSID>'
       '</t:ExchangeImpersonation></soap:Header><soap:Body>{op}</soap:Body></soap:Envelope>')
MARKER = ('<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
          'PropertyName="exsync.TestMarker" PropertyType="String"/>')
ORG = ('<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
       'PropertyName="exsync.OrgId" PropertyType="String"/>')
LAST = ('<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
        'PropertyName="exsync.LastSync" PropertyType="SystemTime"/>')


def getfolder(ids, extra=""):
    return ('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>' + extra +
            '</m:FolderShape><m:FolderIds>' +
            "".join(f'<t:DistinguishedFolderId Id="{i}"/>' for i in ids) + '</m:FolderIds></m:GetFolder>')


def finditem(restriction="", n=1):
    return ('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
            '</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="%d" Offset="0" '
            'BasePoint="Beginning"/>%s<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/>'
            '</m:ParentFolderIds></m:FindItem>' % (n, restriction))


ITEM_ID = re.compile(r'<t:ItemId Id="([^"]+)"')
FOLDER_ID = re.compile(r'<t:FolderId Id="([^"]+)" ChangeKey="([^"]+)"')


class Worker:
    def __init__(self, a, auth):
        u = urllib.parse.urlsplit(a.url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path
        self.auth = auth
        self.conn = None

    def call(self, mbx, op):
        body = ENV.format(mbx=mbx, op=op).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request("POST", self.path, body, {
                    "Content-Type": "text/xml; charset=utf-8", "Authorization": self.auth})
                r = self.conn.getresponse()
                text = r.read().decode("utf-8", "replace")
                if r.status != 200 or 'ResponseClass="Error"' in text:
                    raise RuntimeError(f"HTTP {r.status}")
                return text
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return ""

    def mailbox(self, mbx):
        self.call(mbx, getfolder(["msgfolderroot"]))
        self.call(mbx, getfolder(["inbox"]))
        self.call(mbx, finditem())
        marker = uuid.uuid4().hex
        self.call(mbx, '<m:CreateItem MessageDisposition="SendOnly"><m:Items><t:Message>'
                       '<t:Subject>exsync test</t:Subject><t:Body BodyType="Text">test</t:Body>'
                       '<t:ExtendedProperty>' + MARKER + f'<t:Value>{marker}</t:Value>'
                       '</t:ExtendedProperty><t:ToRecipients><t:Mailbox><t:EmailAddress>'
                       f'{mbx}</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message>'
                       '</m:Items></m:CreateItem>')
        found = ITEM_ID.findall(self.call(mbx, finditem(
            '<m:Restriction><t:IsEqualTo>' + MARKER + '<t:FieldURIOrConstant>'
            f'<t:Constant Value="{marker}"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>')))
        if not found:
            raise RuntimeError("test message not delivered")
        self.call(mbx, '<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>' +
                  "".join(f'<t:ItemId Id="{i}"/>' for i in found) + '</m:ItemIds></m:DeleteItem>')
        self.call(mbx, getfolder(["calendar", "contacts", "tasks"]))
        root = FOLDER_ID.search(self.call(mbx, getfolder(
            ["msgfolderroot"], "<t:AdditionalProperties>" + ORG + LAST + "</t:AdditionalProperties>")))
        if not root:
            raise RuntimeError("no root folder id")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sets = "".join(f'<t:SetFolderField>{uri}<t:Folder><t:ExtendedProperty>{uri}<t:Value>{v}'
                       '</t:Value></t:ExtendedProperty></t:Folder></t:SetFolderField>'
                       for uri, v in ((ORG, "bench-org"), (LAST, now)))
        self.call(mbx, '<m:UpdateFolder><m:FolderChanges><t:FolderChange>'
                       f'<t:FolderId Id="{root.group(1)}" ChangeKey="{root.group(2)}"/>'
                       f'<t:Updates>{sets}</t:Updates></t:FolderChange></m:FolderChanges>'
                       '</m:UpdateFolder>')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True)
    p.add_argument("--domain", default="")
    p.add_argument("--prefix", required=True)
    p.add_argument("--mailboxes", type=int, required=True)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--stride", type=int, default=1)
    a = p.parse_args()
    pw = os.environ.get(a.password_env, "")
    auth = "Basic " + base64.b64encode(f"{a.user}:{pw}".encode()).decode()
    q = queue.Queue()
    for i in range(a.mailboxes):
        q.put(f"{a.prefix}{i * a.stride:05d}@{a.domain}")
    ok = [0]
    lock = threading.Lock()

    def run():
        w = Worker(a, auth)
        while True:
            try:
                mbx = q.get_nowait()
            except queue.Empty:
                return
            try:
                w.mailbox(mbx)
                with lock:
                    ok[0] += 1
            except (RuntimeError, OSError, http.client.HTTPException) as e:
                sys.stderr.write(f"te_lean: {mbx}: {e}\n")

    t0 = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    cpu = sum(os.times()[:2])
    print(f"mailboxes {a.mailboxes} succeeded {ok[0]} seconds {seconds:.3f} cpu {cpu:.3f}", flush=True)
    return 0 if ok[0] == a.mailboxes else 1


if __name__ == "__main__":
    sys.exit(main())
