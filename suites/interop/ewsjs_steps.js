#!/usr/bin/env node
/* ewsjs_steps.js - drive an EWS server with ews-javascript-api (npm; NTLM
 * through @ewsjs/xhr).
 *
 * One line per step on stdout: "STEP <name> ok [detail]" or "STEP <name>
 * FAIL <detail>" ("skip" for --skip); exits 1 at the first failure (every
 * step runs with --keep-going, the exit is still 1), 2 when the client
 * modules cannot be loaded, 0 when every step that ran passed.
 *
 * Options (or EXSYNC_INTEROP_<OPTION> in the environment, dashes as
 * underscores): --url BASE --ca FILE --user U --password P --domain D
 * --auth basic|ntlm --email ADDR --peer-user --peer-password --peer-email
 * --svc-user --svc-password --target ADDR --seed-subject S
 * --autodiscover-url URL (default BASE/autodiscover/autodiscover.svc)
 * --skip a,b --keep-going
 *
 * TLS: the CA must be trusted through NODE_EXTRA_CA_CERTS=FILE (read by
 * node at start; --ca only checks that it is set to the same file).
 * Certificates are always verified. EXSYNC_INTEROP_DEBUG=1 traces requests.
 */
'use strict';

const STEPS = [
  'autodiscover', 'server_version', 'getfolder_inbox', 'finditem', 'getitem', 'send', 'sent_items',
  'recipient_inbox', 'calendar', 'contact', 'task', 'sync_initial', 'sync_incremental',
  'createfolder', 'moveitem', 'impersonation',
];

function out(line) {
  process.stdout.write(line + '\n');
}

let ews, XhrApi;
try {
  ews = require('ews-javascript-api');
  ({ XhrApi } = require('@ewsjs/xhr'));
} catch (e) {
  out(`STEP import FAIL ews-javascript-api not loadable: ${e.message.split('\n')[0]}`);
  process.exit(2);
}

function parseArgs(argv) {
  const names = ['url', 'ca', 'user', 'password', 'domain', 'auth', 'email', 'peer-user',
    'peer-password', 'peer-email', 'svc-user', 'svc-password', 'target', 'seed-subject',
    'autodiscover-url', 'skip'];
  const a = {};
  for (const n of names) {
    const env = 'EXSYNC_INTEROP_' + n.toUpperCase().replace(/-/g, '_');
    if (process.env[env]) a[n] = process.env[env];
  }
  a['keep-going'] = !!process.env.EXSYNC_INTEROP_KEEP_GOING;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(.+)$/.exec(argv[i]);
    if (!m) usage(`unexpected argument ${argv[i]}`);
    if (m[1] === 'keep-going') { a['keep-going'] = true; continue; }
    if (!names.includes(m[1])) usage(`unknown option --${m[1]}`);
    if (i + 1 >= argv.length) usage(`--${m[1]} needs a value`);
    a[m[1]] = argv[++i];
  }
  for (const n of ['url', 'ca', 'user', 'password', 'domain', 'auth'])
    if (!a[n]) usage(`missing --${n}`);
  if (a.auth !== 'basic' && a.auth !== 'ntlm') usage('--auth is basic or ntlm');
  a.url = a.url.replace(/\/+$/, '');
  a.email = a.email || `${a.user}@${a.domain}`;
  a.skip = new Set((a.skip || '').split(',').filter(Boolean));
  for (const s of a.skip) if (!STEPS.includes(s)) usage(`unknown step in --skip: ${s}`);
  return a;
}

function usage(msg) {
  process.stderr.write(`ewsjs_steps.js: ${msg}\n`);
  process.exit(64);
}

class StepFailed extends Error {}
function check(cond, detail) {
  if (!cond) throw new StepFailed(detail);
}

function errText(e) {
  if (e === undefined || e === null)
    return `promise rejected with ${e} (ews-javascript-api dropped the underlying HTTP/XHR error)`;
  let t = `${e.constructor ? e.constructor.name : 'Error'}: ${e.message || e.Message || ''}`;
  let code;
  try { code = e.ErrorCode; } catch (x) { code = undefined; }
  if (code !== undefined && code !== null) t += ` ResponseCode=${ews.ServiceError[code] || code}`;
  if (e.SoapFaultDetails) t += ` fault=${ews.ServiceError[e.SoapFaultDetails.ResponseCode] || ''}`;
  if (e.status || (e.response && e.response.status)) t += ` status=${e.status || e.response.status}`;
  if (e.code) t += ` code=${e.code}`;
  return t.replace(/\s+/g, ' ').slice(0, 700);
}

class Runner {
  constructor(a) {
    this.a = a;
    this.ewsUrl = a.url + '/EWS/Exchange.asmx';
    this.tag = Math.random().toString(16).slice(2, 10);
    this.state = {};
  }

  xhr(user, password) {
    // Certificates verified (NODE_EXTRA_CA_CERTS carries the emulator's CA).
    const x = new XhrApi({ rejectUnauthorized: true });
    if (this.a.auth === 'ntlm') {
      const dom = this.a.domain.split('.')[0].toUpperCase();
      return x.useNtlmAuthentication(`${dom}\\${user}`, password);
    }
    return x;
  }

  service(user, password, version) {
    const svc = new ews.ExchangeService(version || ews.ExchangeVersion.Exchange2013_SP1);
    svc.Credentials = new ews.WebCredentials(user, password);
    svc.Url = new ews.Uri(this.ewsUrl);
    svc.XHRApi = this.xhr(user, password);
    if (process.env.EXSYNC_INTEROP_DEBUG) {
      svc.TraceEnabled = true;
      svc.TraceFlags = ews.TraceFlags.All;
    }
    return svc;
  }

  get svc() {
    if (!this.state.svc) this.state.svc = this.service(this.a.user, this.a.password);
    return this.state.svc;
  }

  async findBySubject(svc, folder, subject) {
    const view = new ews.ItemView(50);
    const res = await svc.FindItems(folder, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, subject), view);
    return res.Items;
  }

  need(...opts) {
    const missing = opts.filter((o) => !this.a[o]);
    check(missing.length === 0, 'needs ' + missing.map((m) => '--' + m).join(', '));
  }

  // ---- steps ----
  async step_autodiscover() {
    // SOAP Autodiscover (GetUserSettings) at a given URL, with a redirection
    // callback that accepts only our own server.
    const adUrl = this.a['autodiscover-url'] || this.a.url + '/autodiscover/autodiscover.svc';
    const ad = new ews.AutodiscoverService(new ews.Uri(adUrl), ews.ExchangeVersion.Exchange2010);
    ad.Credentials = new ews.WebCredentials(this.a.user, this.a.password);
    ad.XHRApi = this.xhr(this.a.user, this.a.password);
    ad.RedirectionUrlValidationCallback = (url) => String(url).toLowerCase().startsWith(this.a.url.toLowerCase());
    const r = await ad.GetUserSettings(this.a.email, [
      ews.UserSettingName.InternalEwsUrl, ews.UserSettingName.ExternalEwsUrl,
      ews.UserSettingName.UserDisplayName,
    ]);
    check(r.ErrorCode === ews.AutodiscoverErrorCode.NoError,
      `ErrorCode ${ews.AutodiscoverErrorCode[r.ErrorCode]} ${r.ErrorMessage || ''}`);
    const get = (n) => (r.Settings && r.Settings.containsKey(n) ? r.Settings.get(n) : undefined);
    const url = get(ews.UserSettingName.ExternalEwsUrl) || get(ews.UserSettingName.InternalEwsUrl);
    check(url && String(url).toLowerCase() === this.ewsUrl.toLowerCase(),
      `EwsUrl ${JSON.stringify(url)}, expected ${this.ewsUrl}; settings ${JSON.stringify(r.Settings)}`);
    return `ews_url=${url}`;
  }

  async step_server_version() {
    // ServerVersionInfo of an answer becomes ExchangeService.ServerInfo.
    await ews.Folder.Bind(this.svc, ews.WellKnownFolderName.MsgFolderRoot);
    const si = this.svc.ServerInfo;
    check(si, 'no ServerInfo after GetFolder');
    check(si.MajorVersion === 15 && si.MinorVersion === 1, `ServerInfo ${si.MajorVersion}.${si.MinorVersion}`);
    return `version=${si.MajorVersion}.${si.MinorVersion}.${si.MajorBuildNumber}.${si.MinorBuildNumber} ${si.VersionString}`;
  }

  async step_getfolder_inbox() {
    const f = await ews.Folder.Bind(this.svc, ews.WellKnownFolderName.Inbox);
    check(f && f.Id && f.Id.UniqueId, 'no folder id');
    return `name=${JSON.stringify(f.DisplayName)} total=${f.TotalCount}`;
  }

  async step_finditem() {
    this.need('seed-subject');
    const items = await this.findBySubject(this.svc, ews.WellKnownFolderName.Inbox, this.a['seed-subject']);
    check(items.length >= 1, `FindItem on subject ${JSON.stringify(this.a['seed-subject'])} found ${items.length}`);
    this.state.seed = items[0];
    return `found=${items.length}`;
  }

  async step_getitem() {
    check(this.state.seed, 'no item from finditem');
    const m = await ews.EmailMessage.Bind(this.svc, this.state.seed.Id,
      new ews.PropertySet(ews.BasePropertySet.FirstClassProperties));
    check(m.Subject === this.a['seed-subject'], `subject ${JSON.stringify(m.Subject)}`);
    check(m.Body && m.Body.Text !== undefined, 'no body');
    const from = m.From ? m.From.Address : null;
    const sender = m.Sender ? m.Sender.Address : null;
    check(from && sender, `From ${JSON.stringify(from)} Sender ${JSON.stringify(sender)}: both expected`);
    return `subject=${JSON.stringify(m.Subject)} from=${from} sender=${sender}`;
  }

  async step_send() {
    this.need('peer-email');
    const subj = `interop ewsjs ${this.tag}`;
    this.state.sentSubject = subj;
    const m = new ews.EmailMessage(this.svc);
    m.Subject = subj;
    m.Body = new ews.MessageBody(ews.BodyType.Text, 'hello from ews-javascript-api');
    m.ToRecipients.Add(this.a['peer-email']);
    await m.SendAndSaveCopy();
    return `subject=${JSON.stringify(subj)}`;
  }

  async step_sent_items() {
    check(this.state.sentSubject, 'nothing sent');
    const items = await this.findBySubject(this.svc, ews.WellKnownFolderName.SentItems, this.state.sentSubject);
    check(items.length === 1, `${items.length} items in Sent Items`);
    return 'found=1';
  }

  async step_recipient_inbox() {
    this.need('peer-user', 'peer-password', 'peer-email');
    check(this.state.sentSubject, 'nothing sent');
    const peer = this.service(this.a['peer-user'], this.a['peer-password']);
    const items = await this.findBySubject(peer, ews.WellKnownFolderName.Inbox, this.state.sentSubject);
    check(items.length === 1, `${items.length} items in ${this.a['peer-email']}'s inbox`);
    const m = await ews.EmailMessage.Bind(peer, items[0].Id, new ews.PropertySet(ews.BasePropertySet.FirstClassProperties));
    const from = m.From ? m.From.Address : null;
    check(from && from.toLowerCase() === this.a.email.toLowerCase(), `From ${JSON.stringify(from)}`);
    return `found=1 from=${from}`;
  }

  async step_calendar() {
    const subj = `interop meeting ${this.tag}`;
    const a = new ews.Appointment(this.svc);
    a.Subject = subj;
    a.Start = new ews.DateTime(Date.UTC(2030, 0, 15, 9, 0, 0));
    a.End = new ews.DateTime(Date.UTC(2030, 0, 15, 10, 0, 0));
    a.Location = 'Room 1';
    await a.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
    check(a.Id && a.Id.UniqueId, 'CreateItem gave no id');
    const b = await ews.Appointment.Bind(this.svc, a.Id);
    check(b.Subject === subj, `subject ${JSON.stringify(b.Subject)}`);
    const start = b.Start ? b.Start.TotalMilliSeconds : null;
    check(start === Date.UTC(2030, 0, 15, 9, 0, 0), `start ${b.Start ? b.Start.ToISOString() : null}`);
    return `start=${b.Start.ToISOString()}`;
  }

  async step_contact() {
    const name = `Interop${this.tag}`;
    const c = new ews.Contact(this.svc);
    c.GivenName = 'Ada';
    c.Surname = name;
    c.CompanyName = 'Contoso';
    c.EmailAddresses._setItem(ews.EmailAddressKey.EmailAddress1, new ews.EmailAddress(`ada.${this.tag}@example.org`));
    await c.Save(ews.WellKnownFolderName.Contacts);
    check(c.Id && c.Id.UniqueId, 'CreateItem gave no id');
    const b = await ews.Contact.Bind(this.svc, c.Id);
    check(b.Surname === name && b.GivenName === 'Ada', `names ${b.GivenName} ${b.Surname}`);
    const e = { outValue: null };
    b.EmailAddresses.TryGetValue(ews.EmailAddressKey.EmailAddress1, e);
    const addr = e.outValue ? e.outValue.Address : null;
    check(addr === `ada.${this.tag}@example.org`, `EmailAddress1 ${JSON.stringify(addr)}`);
    return `display_name=${JSON.stringify(b.DisplayName)} email1=${addr}`;
  }

  async step_task() {
    const subj = `interop task ${this.tag}`;
    const t = new ews.Task(this.svc);
    t.Subject = subj;
    t.DueDate = new ews.DateTime(Date.UTC(2030, 1, 1, 0, 0, 0));
    await t.Save(ews.WellKnownFolderName.Tasks);
    check(t.Id && t.Id.UniqueId, 'CreateItem gave no id');
    const b = await ews.Task.Bind(this.svc, t.Id);
    check(b.Subject === subj, `subject ${JSON.stringify(b.Subject)}`);
    return `status=${ews.TaskStatus[b.Status]}`;
  }

  async sync(state) {
    return this.svc.SyncFolderItems(new ews.FolderId(ews.WellKnownFolderName.Inbox),
      new ews.PropertySet(ews.BasePropertySet.FirstClassProperties), null, 512,
      ews.SyncFolderItemsScope.NormalItems, state);
  }

  async step_sync_initial() {
    const ch = await this.sync(null);
    check(ch.SyncState, 'no SyncState');
    let creates = 0;
    for (let i = 0; i < ch.Count; i++)
      if (ch._getItem(i).ChangeType === ews.ChangeType.Create) creates++;
    check(creates >= 1, `initial sync returned ${ch.Count} changes, ${creates} creates`);
    this.state.syncState = ch.SyncState;
    return `creates=${creates}`;
  }

  async step_sync_incremental() {
    check(this.state.syncState, 'no initial sync state');
    const subj = `interop sync ${this.tag}`;
    const m = new ews.EmailMessage(this.svc);
    m.Subject = subj;
    m.Body = new ews.MessageBody(ews.BodyType.Text, 'between syncs');
    await m.Save(ews.WellKnownFolderName.Inbox);
    const ch = await this.sync(this.state.syncState);
    const got = [];
    for (let i = 0; i < ch.Count; i++) {
      const c = ch._getItem(i);
      got.push([ews.ChangeType[c.ChangeType], c.Item ? c.Item.Subject : null]);
    }
    check(got.length === 1 && got[0][0] === 'Create' && got[0][1] === subj,
      `incremental sync returned ${JSON.stringify(got)}`);
    check(ch.SyncState !== this.state.syncState, 'SyncState unchanged');
    return 'creates=1';
  }

  async step_createfolder() {
    const f = new ews.Folder(this.svc);
    f.DisplayName = `interop-${this.tag}`;
    await f.Save(ews.WellKnownFolderName.Inbox);
    check(f.Id && f.Id.UniqueId, 'CreateFolder gave no id');
    this.state.folder = f;
    return `name=${JSON.stringify(f.DisplayName)}`;
  }

  async step_moveitem() {
    const f = this.state.folder;
    check(f, 'no folder from createfolder');
    const subj = `interop move ${this.tag}`;
    const m = new ews.EmailMessage(this.svc);
    m.Subject = subj;
    m.Body = new ews.MessageBody(ews.BodyType.Text, 'to be moved');
    await m.Save(ews.WellKnownFolderName.Inbox);
    await m.Move(f.Id);
    const inNew = await this.findBySubject(this.svc, f.Id, subj);
    const inOld = await this.findBySubject(this.svc, ews.WellKnownFolderName.Inbox, subj);
    check(inNew.length === 1 && inOld.length === 0, `after MoveItem: ${inNew.length} in new folder, ${inOld.length} in inbox`);
    return 'moved=1';
  }

  async step_impersonation() {
    this.need('svc-user', 'svc-password', 'target');
    const s = this.service(this.a['svc-user'], this.a['svc-password']);
    s.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, this.a.target);
    const res = await s.FindItems(ews.WellKnownFolderName.Inbox, new ews.ItemView(10));
    return `target=${this.a.target} found=${res.Items.length} first=${JSON.stringify(res.Items.map((i) => i.Subject))}`;
  }

  async run() {
    let result = 0;
    for (const name of STEPS) {
      if (this.a.skip.has(name)) {
        out(`STEP ${name} skip`);
        continue;
      }
      try {
        const detail = await this['step_' + name]();
        out(`STEP ${name} ok` + (detail ? ` ${detail}` : ''));
      } catch (e) {
        out(`STEP ${name} FAIL ${e instanceof StepFailed ? e.message : errText(e)}`);
        if (process.env.EXSYNC_INTEROP_TRACEBACK) process.stderr.write(`${e && e.stack}\n`);
        result = 1;
        if (!this.a['keep-going']) return 1;
      }
    }
    return result;
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (process.env.NODE_EXTRA_CA_CERTS !== a.ca) {
    process.stderr.write(`ewsjs_steps.js: set NODE_EXTRA_CA_CERTS=${a.ca} (node reads it at start)\n`);
    return 64;
  }
  if (process.env.EXSYNC_INTEROP_DEBUG) ews.EwsLogging.DebugLogEnabled = true;
  return new Runner(a).run();
}

main().then((rc) => process.exit(rc), (e) => {
  out(`STEP internal FAIL ${errText(e)}`);
  process.exit(1);
});
