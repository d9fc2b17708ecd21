#!/usr/bin/env python3
"""exchangelib_steps.py - drive an EWS server with exchangelib (python3-exchangelib).

One line per step on stdout: "STEP <name> ok [detail]" or "STEP <name> FAIL
<detail>"; exits 1 at the first failure, 2 when exchangelib cannot be
imported, 0 when every step that ran passed. Skipped steps print
"STEP <name> skip".

Every option can also come from the environment (EXSYNC_INTEROP_<OPTION> in
upper case, dashes as underscores), e.g. EXSYNC_INTEROP_URL.

  --url BASE             https://127.0.0.1:PORT (EWS at BASE/EWS/Exchange.asmx)
  --ca FILE              CA certificate (PEM) the server certificate chains to
  --user/--password/--domain   the mailbox owner; NTLM sends DOMAIN\\user
  --auth basic|ntlm
  --email ADDR           the owner's address (default user@domain)
  --peer-user/--peer-password/--peer-email   recipient of the sent message
  --svc-user/--svc-password  an account with impersonation rights
  --target ADDR          the mailbox the service account impersonates
  --seed-subject S       subject of a message already in the owner's inbox
  --autodiscover-url U   POX endpoint (default BASE/Autodiscover/Autodiscover.xml)
  --skip a,b             steps not to run (e.g. autodiscover)
  --keep-going           run every step even after a failure (still exits 1)

EXSYNC_INTEROP_DEBUG=1 logs every request and answer (exchangelib's
PrettyXmlHandler) on stderr; EXSYNC_INTEROP_TRACEBACK=1 prints tracebacks.
"""
import argparse
import datetime
import os
import sys
import traceback
import uuid

STEPS = [
    "autodiscover", "server_version", "getfolder_inbox", "finditem", "getitem", "send", "sent_items",
    "recipient_inbox", "calendar", "contact", "task", "sync_initial", "sync_incremental",
    "createfolder", "moveitem", "impersonation",
]


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def opt(name, **kw):
        env = "EXSYNC_INTEROP_" + name.upper().replace("-", "_")
        kw.setdefault("default", os.environ.get(env))
        p.add_argument("--" + name, **kw)

    for n in ("url", "ca", "user", "password", "domain", "email", "peer-user", "peer-password",
              "peer-email", "svc-user", "svc-password", "target", "seed-subject",
              "autodiscover-url", "skip"):
        opt(n)
    opt("auth", choices=["basic", "ntlm"])
    p.add_argument("--keep-going", action="store_true",
                   default=bool(os.environ.get("EXSYNC_INTEROP_KEEP_GOING")))
    a = p.parse_args()
    missing = [n for n in ("url", "ca", "user", "password", "domain", "auth") if not getattr(a, n)]
    if missing:
        p.error("missing: " + ", ".join("--" + m for m in missing))
    a.url = a.url.rstrip("/")
    a.email = a.email or f"{a.user}@{a.domain}"
    a.skip = set(s for s in (a.skip or "").split(",") if s)
    unknown = a.skip - set(STEPS)
    if unknown:
        p.error("unknown steps in --skip: " + ", ".join(sorted(unknown)))
    return a


try:
    import requests.adapters
    from exchangelib import (BASIC, DELEGATE, IMPERSONATION, NTLM, UTC, Account, CalendarItem,
                             Configuration, Contact, Credentials, EWSDateTime, Folder, Mailbox,
                             Message, Task)
    from exchangelib.autodiscover import autodiscover_cache
    from exchangelib.autodiscover.protocol import AutodiscoverProtocol
    from exchangelib.indexed_properties import EmailAddress
    from exchangelib.protocol import BaseProtocol, CachingProtocol
except ImportError as e:  # the test reports this as a missing client
    out(f"STEP import FAIL exchangelib not importable: {e}")
    sys.exit(2)


class StepFailed(Exception):
    pass


def check(cond, detail):
    if not cond:
        raise StepFailed(detail)


class Runner:
    def __init__(self, args):
        self.a = args
        self.ews_url = args.url + "/EWS/Exchange.asmx"
        self.tag = uuid.uuid4().hex[:8]
        self.state = {}

    # ---- plumbing ----
    def creds(self, user, password):
        if self.a.auth == "ntlm":
            user = f"{self.a.domain.split('.')[0].upper()}\\{user}"
        return Credentials(username=user, password=password)

    def config(self, user, password):
        return Configuration(service_endpoint=self.ews_url, credentials=self.creds(user, password),
                             auth_type=NTLM if self.a.auth == "ntlm" else BASIC)

    def account(self, email, user, password, access_type=DELEGATE):
        return Account(primary_smtp_address=email, config=self.config(user, password),
                       autodiscover=False, access_type=access_type, default_timezone=UTC)

    @property
    def acct(self):
        if "acct" not in self.state:
            self.state["acct"] = self.account(self.a.email, self.a.user, self.a.password)
        return self.state["acct"]

    def need(self, *opts):
        missing = [o for o in opts if not getattr(self.a, o.replace("-", "_"))]
        check(not missing, "needs " + ", ".join("--" + m for m in missing))

    # ---- steps ----
    def step_autodiscover(self):
        # POX Autodiscover at a known URL: exchangelib's documented way is to
        # seed its cache with the endpoint, then discover() posts there.
        ad_url = self.a.autodiscover_url or self.a.url + "/Autodiscover/Autodiscover.xml"
        creds = self.creds(self.a.user, self.a.password)
        auth = NTLM if self.a.auth == "ntlm" else BASIC
        domain = self.a.email.split("@", 1)[1]
        autodiscover_cache[(domain, creds)] = AutodiscoverProtocol(
            config=Configuration(service_endpoint=ad_url, credentials=creds, auth_type=auth))
        acct = Account(primary_smtp_address=self.a.email, credentials=creds, autodiscover=True,
                       config=Configuration(credentials=creds, auth_type=auth),
                       default_timezone=UTC)
        got = acct.protocol.service_endpoint
        check(got.lower() == self.ews_url.lower(), f"EwsUrl {got!r}, expected {self.ews_url!r}")
        return f"ews_url={got}"

    def step_server_version(self):
        # Without Autodiscover, exchangelib learns the server version by
        # probing with ConvertId (newest RequestServerVersion first) and
        # reading ServerVersionInfo; a 15.1 server must come out as Exchange2016.
        # Forget the version Autodiscover taught (Protocol objects are cached
        # per endpoint and credentials) so the probe really runs.
        CachingProtocol.clear_cache()
        self.state.pop("acct", None)
        v = self.acct.version
        check(v.build is not None and (v.build.major_version, v.build.minor_version) == (15, 1),
              f"build {v.build}")
        check(v.api_version == "Exchange2016",
              f"exchangelib settled on API version {v.api_version} (build {v.build}); expected Exchange2016")
        return f"api_version={v.api_version} build={v.build}"

    def step_getfolder_inbox(self):
        inbox = self.acct.inbox
        check(inbox is not None and inbox.id, "no inbox folder id")
        return f"name={inbox.name!r} total={inbox.total_count}"

    def step_finditem(self):
        self.need("seed-subject")
        items = list(self.acct.inbox.filter(subject=self.a.seed_subject).only("id", "changekey", "subject"))
        check(len(items) >= 1, f"FindItem on subject {self.a.seed_subject!r} found {len(items)} items")
        self.state["seed"] = items[0]
        return f"found={len(items)}"

    def step_getitem(self):
        check("seed" in self.state, "no item from finditem")
        seed = self.state["seed"]
        items = list(self.acct.fetch(ids=[(seed.id, seed.changekey)]))
        check(len(items) == 1 and isinstance(items[0], Message), f"GetItem returned {items!r}")
        it = items[0]
        check(it.subject == self.a.seed_subject, f"subject {it.subject!r}")
        check(it.body is not None, "no body")
        # exchangelib reads both t:Sender and t:From (author)
        snd = getattr(it.sender, "email_address", None)
        frm = getattr(it.author, "email_address", None)
        check(snd and frm, f"Sender {snd!r} From {frm!r}: both expected")
        return f"subject={it.subject!r} sender={snd} from={frm}"

    def step_send(self):
        self.need("peer-email")
        subj = f"interop exchangelib {self.tag}"
        self.state["sent_subject"] = subj
        m = Message(account=self.acct, folder=self.acct.sent, subject=subj, body="hello from exchangelib",
                    to_recipients=[Mailbox(email_address=self.a.peer_email)])
        m.send_and_save()
        return f"subject={subj!r}"

    def step_sent_items(self):
        subj = self.state.get("sent_subject")
        check(subj, "nothing sent")
        n = self.acct.sent.filter(subject=subj).count()
        check(n == 1, f"{n} items with subject {subj!r} in Sent Items")
        return "found=1"

    def step_recipient_inbox(self):
        self.need("peer-user", "peer-password", "peer-email")
        subj = self.state.get("sent_subject")
        check(subj, "nothing sent")
        peer = self.account(self.a.peer_email, self.a.peer_user, self.a.peer_password)
        items = list(peer.inbox.filter(subject=subj))
        check(len(items) == 1, f"{len(items)} items with subject {subj!r} in {self.a.peer_email}'s inbox")
        frm = items[0].sender.email_address if items[0].sender else None
        check(frm and frm.lower() == self.a.email.lower(), f"sender {frm!r}")
        return f"found=1 sender={frm}"

    def readback(self, item):
        got = list(self.acct.fetch(ids=[(item.id, item.changekey)]))
        check(len(got) == 1 and got[0] is not None and not isinstance(got[0], Exception),
              f"GetItem returned {got!r}")
        return got[0]

    def step_calendar(self):
        start = EWSDateTime(2030, 1, 15, 9, 0, tzinfo=UTC)
        subj = f"interop meeting {self.tag}"
        it = CalendarItem(account=self.acct, folder=self.acct.calendar, subject=subj, start=start,
                          end=start + datetime.timedelta(hours=1), location="Room 1")
        it.save()
        check(it.id, "CreateItem gave no id")
        back = self.readback(it)
        check(isinstance(back, CalendarItem), f"read back a {type(back).__name__}")
        check(back.subject == subj, f"subject {back.subject!r}")
        check(back.start == start, f"start {back.start!r}, expected {start!r}")
        return f"start={back.start.isoformat()}"

    def step_contact(self):
        name = f"Interop{self.tag}"
        it = Contact(account=self.acct, folder=self.acct.contacts, given_name="Ada", surname=name,
                     display_name=f"Ada {name}", company_name="Contoso",
                     email_addresses=[EmailAddress(email=f"ada.{self.tag}@example.org", label="EmailAddress1")])
        it.save()
        check(it.id, "CreateItem gave no id")
        back = self.readback(it)
        check(isinstance(back, Contact), f"read back a {type(back).__name__}")
        check(back.surname == name and back.given_name == "Ada",
              f"names {back.given_name!r} {back.surname!r}")
        emails = [e.email for e in (back.email_addresses or [])]
        check(f"ada.{self.tag}@example.org" in emails, f"email addresses {emails!r}")
        return f"display_name={back.display_name!r}"

    def step_task(self):
        subj = f"interop task {self.tag}"
        it = Task(account=self.acct, folder=self.acct.tasks, subject=subj,
                  due_date=datetime.date(2030, 2, 1))
        it.save()
        check(it.id, "CreateItem gave no id")
        back = self.readback(it)
        check(isinstance(back, Task), f"read back a {type(back).__name__}")
        check(back.subject == subj, f"subject {back.subject!r}")
        return f"status={back.status!r}"

    def step_sync_initial(self):
        inbox = self.acct.inbox
        changes = list(inbox.sync_items())
        check(inbox.item_sync_state, "no SyncState")
        creates = [i for t, i in changes if t == "create"]
        check(len(creates) >= 1, f"initial sync returned {len(changes)} changes, none a create")
        self.state["sync_state"] = inbox.item_sync_state
        return f"creates={len(creates)}"

    def step_sync_incremental(self):
        check("sync_state" in self.state, "no initial sync state")
        inbox = self.acct.inbox
        subj = f"interop sync {self.tag}"
        Message(account=self.acct, folder=inbox, subject=subj, body="between syncs").save()
        changes = list(inbox.sync_items(sync_state=self.state["sync_state"]))
        subjects = [getattr(i, "subject", None) for t, i in changes if t == "create"]
        check(len(changes) == 1 and subjects == [subj],
              f"incremental sync returned {[(t, getattr(i, 'subject', i)) for t, i in changes]!r}")
        check(inbox.item_sync_state != self.state["sync_state"], "SyncState unchanged")
        return "creates=1"

    def step_createfolder(self):
        f = Folder(parent=self.acct.inbox, name=f"interop-{self.tag}")
        f.save()
        check(f.id, "CreateFolder gave no id")
        self.state["folder"] = f
        return f"name={f.name!r}"

    def step_moveitem(self):
        f = self.state.get("folder")
        check(f is not None, "no folder from createfolder")
        subj = f"interop move {self.tag}"
        m = Message(account=self.acct, folder=self.acct.inbox, subject=subj, body="to be moved")
        m.save()
        m.move(to_folder=f)
        n_new = f.filter(subject=subj).count()
        n_old = self.acct.inbox.filter(subject=subj).count()
        check(n_new == 1 and n_old == 0, f"after MoveItem: {n_new} in new folder, {n_old} in inbox")
        return "moved=1"

    def step_impersonation(self):
        self.need("svc-user", "svc-password", "target")
        acct = self.account(self.a.target, self.a.svc_user, self.a.svc_password,
                            access_type=IMPERSONATION)
        inbox = acct.inbox
        n = inbox.all().count()
        items = list(inbox.all().only("subject")[:5])
        return f"target={self.a.target} inbox_total={inbox.total_count} found={n} first={[i.subject for i in items]!r}"

    def run(self):
        result = 0
        for name in STEPS:
            if name in self.a.skip:
                out(f"STEP {name} skip")
                continue
            try:
                detail = getattr(self, "step_" + name)()
            except StepFailed as e:
                out(f"STEP {name} FAIL {e}")
                result = 1
                if self.a.keep_going:
                    continue
                return 1
            except Exception as e:  # a client exception is a failed step, with its text
                tb = traceback.format_exc().strip().splitlines()
                where = tb[-3].strip() if len(tb) >= 3 else ""
                out(f"STEP {name} FAIL {type(e).__name__}: {str(e)[:600]!s} [{where}]".replace("\n", " "))
                if os.environ.get("EXSYNC_INTEROP_TRACEBACK"):
                    sys.stderr.write(traceback.format_exc())
                result = 1
                if self.a.keep_going:
                    continue
                return 1
            out(f"STEP {name} ok" + (f" {detail}" if detail else ""))
        return result


def main():
    args = parse_args()
    cafile = args.ca

    class CAAdapter(requests.adapters.HTTPAdapter):
        """Verify the server against the emulator's CA, never skip verification."""

        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn=conn, url=url, verify=cafile, cert=cert)

    BaseProtocol.HTTP_ADAPTER_CLS = CAAdapter
    if os.environ.get("EXSYNC_INTEROP_DEBUG"):
        import logging
        from exchangelib.util import PrettyXmlHandler
        logging.basicConfig(level=logging.DEBUG, handlers=[PrettyXmlHandler()])
    BaseProtocol.TIMEOUT = 30
    return Runner(args).run()


if __name__ == "__main__":
    sys.exit(main())
