#!/usr/bin/env python3
"""davmail_steps.py - drive an EWS server through DavMail (Debian davmail-server).

Starts DavMail in server mode with a generated properties file (EWS mode,
IMAP, SMTP and CalDAV/CardDAV on free loopback ports), waits for its ports
(polling, with a deadline), then works as a user would: python3's imaplib
and smtplib for mail, curl for CalDAV and CardDAV. DavMail translates every
step into EWS calls to --ews-url.

One line per step on stdout: "STEP <name> ok [detail]" or "STEP <name> FAIL
<detail>"; exits 1 when a step failed, 2 when DavMail is not installed or
does not start, 0 when every step passed.

  --ews-url URL          http://HOST:PORT/EWS/Exchange.asmx
  --login L              what the IMAP/SMTP/CalDAV client logs in as (DavMail
                         passes it on: "user@domain", or "DOMAIN\\user|email"
                         for NTLM with a Windows domain)
  --password PW
  --domain D             davmail.defaultDomain: the Windows domain DavMail
                         gives NTLM for a login without one
  --email ADDR           the mailbox address
  --peer-email ADDR      recipient of the sent message
  --seed-subject S       subject of a message already in the inbox
  --workdir DIR          properties file and DavMail's log go here
  --davmail CMD          default: davmail-server
  --keep-going           run every step even after a failure (still exits 1)

EXSYNC_INTEROP_VERBOSE=1 copies DavMail's log to stderr at the end.
"""
import argparse
import imaplib
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage

STEPS = [
    "imap_login", "imap_search_inbox", "imap_fetch", "smtp_send", "imap_search_sent",
    "caldav_event", "carddav_contact", "caldav_task", "imap_move",
]
START_DEADLINE_S = 60
SEARCH_DEADLINE_S = 20


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class StepFailed(Exception):
    pass


def check(cond, detail):
    if not cond:
        raise StepFailed(detail)


def free_ports(n):
    """n distinct free loopback ports (bound to 0, then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Runner:
    def __init__(self, a):
        self.a = a
        self.tag = uuid.uuid4().hex[:8]
        self.state = {}
        self.proc = None
        self.imap_port, self.smtp_port, self.caldav_port, self.ldap_port, self.pop_port = free_ports(5)
        self.log = os.path.join(a.workdir, "davmail.log")

    # ---- DavMail ----
    def start(self):
        props = os.path.join(self.a.workdir, "davmail.properties")
        with open(props, "w") as f:
            f.write("\n".join([
                "davmail.server=true",
                "davmail.mode=EWS",
                f"davmail.url={self.a.ews_url}",
                f"davmail.imapPort={self.imap_port}",
                f"davmail.smtpPort={self.smtp_port}",
                f"davmail.caldavPort={self.caldav_port}",
                f"davmail.ldapPort={self.ldap_port}",
                f"davmail.popPort={self.pop_port}",
                "davmail.bindAddress=127.0.0.1",
                f"davmail.defaultDomain={self.a.domain}",
                "davmail.allowRemote=false",
                "davmail.disableUpdateCheck=true",
                "davmail.enableKeepAlive=false",
                "davmail.smtpSaveInSent=true",
                "davmail.imapAutoExpunge=true",
                "davmail.caldavPastDelay=0",
                f"davmail.logFilePath={self.log}",
                "log4j.rootLogger=WARN",
                "log4j.logger.davmail=DEBUG",
                "log4j.logger.httpclient.wire=WARN",
                "log4j.logger.org.apache.http.wire=DEBUG",
                "",
            ]))
        cmd = self.a.davmail.split() + [props]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(self.a.workdir, "davmail.err"), "w"),
                                         cwd=self.a.workdir)
        except OSError as e:
            out(f"STEP start FAIL cannot run {cmd[0]}: {e}")
            sys.exit(2)
        deadline = time.monotonic() + START_DEADLINE_S
        ports = [self.imap_port, self.smtp_port, self.caldav_port]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out(f"STEP start FAIL davmail exited with {self.proc.returncode}")
                sys.exit(2)
            if all(port_open(p) for p in ports):
                return
            time.sleep(0.1)  # polling interval of the readiness wait, not a delay
        out(f"STEP start FAIL davmail ports {ports} not open after {START_DEADLINE_S} s")
        self.stop()
        sys.exit(2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # ---- clients ----
    def imap(self):
        if "imap" not in self.state:
            m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=60)
            answers = [self.a.login.encode(), self.a.password.encode()]
            m.authenticate("LOGIN", lambda challenge: answers.pop(0) if answers else b"")
            self.state["imap"] = m
        return self.state["imap"]

    def uid_search(self, folder, subject, want=1):
        """UIDs of messages in folder whose subject holds subject. Mail DavMail
        submits reaches the folder asynchronously on a real server, so the
        search is repeated (a fresh SELECT each time) until it finds want
        messages or the deadline passes."""
        m = self.imap()
        deadline = time.monotonic() + SEARCH_DEADLINE_S
        while True:
            typ, _ = m.select(f'"{folder}"')
            check(typ == "OK", f"SELECT {folder}: {typ}")
            typ, data = m.uid("SEARCH", None, "SUBJECT", f'"{subject}"')
            check(typ == "OK", f"UID SEARCH in {folder}: {typ} {data}")
            uids = data[0].split() if data and data[0] else []
            if len(uids) >= want or time.monotonic() > deadline:
                return uids
            time.sleep(0.2)  # polling interval

    def curl(self, method, path, body=None, ctype=None, headers=()):
        url = f"http://127.0.0.1:{self.caldav_port}{path}"
        cmd = ["curl", "-s", "-S", "--max-time", "60", "-u", f"{self.a.login}:{self.a.password}",
               "-X", method, "-o", "-", "-w", "\n%{http_code}", url]
        for h in headers:
            cmd += ["-H", h]
        if body is not None:
            cmd += ["-H", f"Content-Type: {ctype}", "--data-binary", "@-"]
        r = subprocess.run(cmd, input=(body or "").encode(), capture_output=True)
        check(r.returncode == 0, f"curl {method} {path}: exit {r.returncode}: {r.stderr.decode()[:300]}")
        text = r.stdout.decode("utf-8", "replace")
        text, _, code = text.rpartition("\n")
        return int(code), text

    # ---- steps ----
    def step_imap_login(self):
        m = self.imap()
        typ, data = m.list()
        check(typ == "OK", f"LIST: {typ}")
        names = [d.decode("utf-8", "replace") for d in data if d]
        check(any("INBOX" in n for n in names), f"no INBOX in LIST: {names}")
        return f"folders={len(names)}"

    def step_imap_search_inbox(self):
        m = self.imap()
        typ, data = m.select("INBOX")
        check(typ == "OK", f"SELECT INBOX: {typ}")
        typ, data = m.uid("SEARCH", None, "ALL")
        uids = data[0].split() if data and data[0] else []
        check(typ == "OK" and uids, f"UID SEARCH ALL in INBOX found nothing ({typ} {data})")
        seed = self.uid_search("INBOX", self.a.seed_subject)
        check(seed, f"UID SEARCH SUBJECT {self.a.seed_subject!r} found nothing")
        self.state["seed_uid"] = seed[0]
        return f"all={len(uids)} seed_uid={seed[0].decode()}"

    def step_imap_fetch(self):
        check("seed_uid" in self.state, "no message from imap_search_inbox")
        m = self.imap()
        m.select("INBOX")
        typ, data = m.uid("FETCH", self.state["seed_uid"], "(FLAGS RFC822.SIZE BODY.PEEK[])")
        check(typ == "OK" and data and isinstance(data[0], tuple), f"UID FETCH: {typ} {data!r:.300}")
        raw = data[0][1]
        check(self.a.seed_subject.encode() in raw, f"fetched message lacks the subject: {raw[:300]!r}")
        return f"bytes={len(raw)}"

    def step_smtp_send(self):
        subj = f"interop davmail {self.tag}"
        msg = EmailMessage()
        msg["From"] = self.a.email
        msg["To"] = self.a.peer_email
        msg["Subject"] = subj
        msg["Message-ID"] = f"<{self.tag}@davmail.interop>"
        msg.set_content("hello through DavMail\n")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=60) as s:
            s.login(self.a.login, self.a.password)
            s.send_message(msg)
        self.state["sent_subject"] = subj
        return f"subject={subj!r}"

    def step_imap_search_sent(self):
        subj = self.state.get("sent_subject")
        check(subj, "nothing sent")
        uids = self.uid_search("Sent", subj)
        check(len(uids) == 1, f"UID SEARCH SUBJECT {subj!r} in Sent found {len(uids)}")
        return f"uid={uids[0].decode()}"

    def step_caldav_event(self):
        name = f"event-{self.tag}"
        path = f"/users/{self.a.email}/calendar/{name}.ics"
        ics = "\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//exsync//interop//EN",
            "BEGIN:VEVENT", f"UID:{name}", "DTSTAMP:20261201T090000Z",
            "DTSTART:20261210T100000Z", "DTEND:20261210T110000Z",
            f"SUMMARY:interop event {self.tag}", "END:VEVENT", "END:VCALENDAR", ""])
        code, text = self.curl("PUT", path, ics, "text/calendar; charset=utf-8")
        check(code in (200, 201, 204), f"PUT {path}: HTTP {code} {text[:300]}")
        code, text = self.curl("GET", path)
        check(code == 200 and f"interop event {self.tag}" in text, f"GET {path}: HTTP {code} {text[:300]}")
        return f"put+get {name}.ics"

    def step_carddav_contact(self):
        name = f"contact-{self.tag}"
        path = f"/users/{self.a.email}/contacts/{name}.vcf"
        vcf = "\r\n".join([
            "BEGIN:VCARD", "VERSION:3.0", f"UID:{name}", f"FN:Interop Contact {self.tag}",
            f"N:Contact {self.tag};Interop;;;", f"EMAIL;TYPE=INTERNET:contact-{self.tag}@example.org",
            "END:VCARD", ""])
        code, text = self.curl("PUT", path, vcf, "text/vcard; charset=utf-8")
        check(code in (200, 201, 204), f"PUT {path}: HTTP {code} {text[:300]}")
        code, text = self.curl("GET", path)
        check(code == 200 and self.tag in text, f"GET {path} after PUT: HTTP {code} {text[:300]}")
        return f"put+get {name}.vcf"

    def step_caldav_task(self):
        name = f"task-{self.tag}"
        coll = f"/users/{self.a.email}/tasks/"
        ics = "\r\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//exsync//interop//EN",
            "BEGIN:VTODO", f"UID:{name}", "DTSTAMP:20261201T090000Z",
            f"SUMMARY:interop task {self.tag}", "STATUS:NEEDS-ACTION", "END:VTODO", "END:VCALENDAR", ""])
        code, text = self.curl("PUT", coll + name + ".ics", ics, "text/calendar; charset=utf-8")
        check(code in (200, 201, 204), f"PUT task: HTTP {code} {text[:300]}")
        report = ('<?xml version="1.0" encoding="utf-8"?>'
                  '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                  '<D:prop><D:getetag/><C:calendar-data/></D:prop>'
                  '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/>'
                  '</C:comp-filter></C:filter></C:calendar-query>')
        code, text = self.curl("REPORT", coll, report, "application/xml; charset=utf-8", ["Depth: 1"])
        check(code == 207, f"REPORT {coll}: HTTP {code} {text[:300]}")
        check(name in text or f"interop task {self.tag}" in text, f"REPORT does not list the task: {text[:500]}")
        return f"put+report {name}.ics"

    def step_imap_move(self):
        check("seed_uid" in self.state, "no message from imap_search_inbox")
        m = self.imap()
        folder = f"interop-{self.tag}"
        typ, data = m.create(f'"{folder}"')
        check(typ == "OK", f"CREATE {folder}: {typ} {data}")
        m.select("INBOX")
        # RFC 6851 MOVE (DavMail announces it), as Thunderbird moves
        imaplib.Commands.setdefault("MOVE", ("SELECTED",))
        typ, data = m.uid("MOVE", self.state["seed_uid"], f'"{folder}"')
        check(typ == "OK", f"UID MOVE to {folder}: {typ} {data}")
        uids = self.uid_search(folder, self.a.seed_subject)
        check(len(uids) == 1, f"UID SEARCH in {folder} after the move found {len(uids)}")
        left = self.uid_search("INBOX", self.a.seed_subject, want=0)
        check(not left, f"the message is still in INBOX after the move ({left})")
        return f"moved to {folder}"

    def run(self):
        failed = False
        self.start()
        try:
            for name in STEPS:
                if failed and not self.a.keep_going:
                    out(f"STEP {name} skip")
                    continue
                try:
                    detail = getattr(self, "step_" + name)()
                    out(f"STEP {name} ok" + (f" {detail}" if detail else ""))
                except (StepFailed, imaplib.IMAP4.error, smtplib.SMTPException, OSError) as e:
                    failed = True
                    out(f"STEP {name} FAIL {type(e).__name__}: {str(e)[:600]}".replace("\n", " "))
        finally:
            imap = self.state.pop("imap", None)
            if imap:
                try:
                    imap.logout()
                except (imaplib.IMAP4.error, OSError):
                    pass
            self.stop()
            if os.environ.get("EXSYNC_INTEROP_VERBOSE") and os.path.exists(self.log):
                with open(self.log, errors="replace") as f:
                    sys.stderr.write(f.read())
        return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for n in ("ews-url", "login", "password", "email", "peer-email", "seed-subject", "workdir"):
        p.add_argument("--" + n, required=True)
    p.add_argument("--domain", default="", help="davmail.defaultDomain: NTLM domain of a bare login")
    p.add_argument("--davmail", default="davmail-server")
    p.add_argument("--keep-going", action="store_true")
    a = p.parse_args()
    if not shutil.which(a.davmail.split()[0]):
        out(f"STEP start FAIL {a.davmail.split()[0]} not found (apt-get install davmail-server)")
        return 2
    return Runner(a).run()


if __name__ == "__main__":
    sys.exit(main())
