#!/usr/bin/python3
"""te_exchangelib.py - the python3-exchangelib peer of bench_testenable.

Makes, for each of N impersonated mailboxes, the 9 EWS calls exsync's Test &
Enable made until issue 15 (it now makes 6: one GetFolder of the root with
the identity, the Inbox, calendar, contacts and tasks replaces the three
GetFolder calls below), in the same order:

  GetFolder msgfolderroot                       connect + authenticate
  GetFolder inbox; FindItem inbox (1, newest)   incoming
  CreateItem SendOnly with the exsync.TestMarker extended property;
  FindItem inbox IsEqualTo the marker; DeleteItem HardDelete    outgoing
  GetFolder calendar+contacts+tasks (one batch);
  GetFolder msgfolderroot with exsync.OrgId and exsync.LastSync;
  UpdateFolder msgfolderroot setting both       ACT

Basic authentication, ExchangeImpersonation, a fixed EWS URL (no
Autodiscover), one Account per mailbox as a Test & Enable run would have,
a thread pool of --connections workers sharing one Configuration whose
max_connections is the same number. Prints one line:

  mailboxes N succeeded K seconds S

Run by bench_testenable with Debian's /usr/bin/python3 (python3-exchangelib).
The password comes from the environment variable named by --password-env.
"""
import argparse
import os
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from exchangelib import (BASIC, IMPERSONATION, UTC, Account, Build, Configuration, Credentials,
                         EWSDateTime, ExtendedProperty, Message, Version)
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Contacts, Folder, Inbox, MsgFolderRoot, Root, Tasks
from exchangelib.services import GetFolder, UpdateFolder


class TestMarker(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "exsync.TestMarker"
    property_type = "String"


class OrgId(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "exsync.OrgId"
    property_type = "String"


class LastSync(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "exsync.LastSync"
    property_type = "SystemTime"


Message.register("te_marker", TestMarker)
Folder.register("exsync_org_id", OrgId)
Folder.register("exsync_last_sync", LastSync)

ORG_ID = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def distinguished(cls, root):
    return cls(root=root, name=cls.DISTINGUISHED_FOLDER_ID, is_distinguished=True)


def get_folders(account, folders, fields=()):
    paths = [FieldPath(field=Folder.get_field_by_fieldname(f)) for f in fields]
    out = list(GetFolder(account=account).call(folders=folders, additional_fields=paths,
                                               shape="IdOnly"))
    for f in out:
        if isinstance(f, Exception):
            raise f
    return out


def test_enable(config, address):
    account = Account(primary_smtp_address=address, config=config, autodiscover=False,
                      access_type=IMPERSONATION, default_timezone=UTC)
    root = Root(account=account)
    # connect: the mailbox root
    get_folders(account, [distinguished(MsgFolderRoot, root)])
    # incoming: the inbox and its newest item
    inbox = get_folders(account, [distinguished(Inbox, root)])[0]
    list(inbox.all().order_by("-datetime_received").only("subject", "datetime_received")[:1])
    # outgoing: send to self, find it by its marker, delete it
    marker = secrets.token_hex(12)
    Message(account=account, subject=f"exsync Test & Enable {marker}",
            body="This message was sent by exsync to test outgoing email. It is deleted "
                 "automatically.",
            to_recipients=[address], te_marker=marker).send(save_copy=False)
    found = list(inbox.filter(te_marker=marker).only("subject")[:5])
    if not found:
        raise RuntimeError(f"{address}: the test message did not arrive")
    found[0].delete()
    # ACT: calendar, contacts and tasks, then the organization identity
    get_folders(account, [distinguished(Calendar, root), distinguished(Contacts, root),
                          distinguished(Tasks, root)])
    msgroot = get_folders(account, [distinguished(MsgFolderRoot, root)],
                          ("exsync_org_id", "exsync_last_sync"))[0]
    msgroot.exsync_org_id = ORG_ID
    msgroot.exsync_last_sync = EWSDateTime.now(tz=UTC).replace(microsecond=0)
    # UpdateFolder itself: Folder.save() would also refresh exchangelib's folder
    # cache (two more requests exsync does not make)
    UpdateFolder(account=account).get(folders=[(msgroot, ["exsync_org_id", "exsync_last_sync"])])
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--prefix", default="mb")
    ap.add_argument("--mailboxes", type=int, default=500)
    ap.add_argument("--connections", type=int, default=10)
    # mailbox i*stride: spread over the world, so the emulator finds them as
    # fast (or slowly) as the mailboxes exsync tests
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    config = Configuration(service_endpoint=a.url,
                           credentials=Credentials(a.user, os.environ[a.password_env]),
                           auth_type=BASIC, version=Version(build=Build(15, 0, 847, 32)),
                           max_connections=a.connections)
    addresses = [f"{a.prefix}{i * a.stride:05d}@{a.domain}" for i in range(a.mailboxes)]
    ok = 0
    errors = 0

    def one(address):
        try:
            return test_enable(config, address)
        except Exception as e:  # a failed mailbox is counted, not fatal
            if a.verbose or errors < 3:
                print(f"te_exchangelib: {address}: {e!r}", file=sys.stderr)
            return False

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=a.connections) as pool:
        for r in pool.map(one, addresses):
            if r:
                ok += 1
            else:
                errors += 1
    seconds = time.monotonic() - t0
    print(f"mailboxes {a.mailboxes} succeeded {ok} seconds {seconds:.3f}", flush=True)
    return 0 if ok == a.mailboxes else 1


if __name__ == "__main__":
    sys.exit(main())
